"""Overlap metrics, the empty-mask convention, seed 000's per-volume IoU and BRATS regions."""

import numpy as np
import pytest

from jaxseg import metrics


def _pair():
    pred = np.zeros((4, 5), bool)
    true = np.zeros((4, 5), bool)
    pred[0, :4] = True  # 4 voxels
    true[0, 2:] = True  # 3 voxels, 2 shared: TP 2, FP 2, FN 1, TN 15
    return pred, true


def test_confusion_based_metrics_by_hand():
    pred, true = _pair()
    assert metrics.confusion_counts(pred, true) == (2, 2, 1, 15)
    assert metrics.sensitivity(pred, true) == pytest.approx(2 / 3)
    assert metrics.precision(pred, true) == pytest.approx(2 / 4)
    assert metrics.specificity(pred, true) == pytest.approx(15 / 17)
    assert metrics.volume_error(pred, true) == pytest.approx((4 - 3) / 3)
    assert metrics.dice_score(pred, true) == pytest.approx(4 / 7)
    assert metrics.iou_score(pred, true) == pytest.approx(2 / 5)


OVERLAPS = [metrics.dice_score, metrics.iou_score, metrics.sensitivity, metrics.precision]


@pytest.mark.parametrize("fn", OVERLAPS)
def test_empty_convention_for_overlaps(fn):
    empty, some = np.zeros((3, 3), bool), np.eye(3, dtype=bool)
    assert fn(empty, empty) == 1.0
    assert fn(empty, some) == 0.0 and fn(some, empty) == 0.0


def test_empty_convention_for_volume_error_and_specificity():
    empty, some, full = np.zeros((3, 3), bool), np.eye(3, dtype=bool), np.ones((3, 3), bool)
    assert metrics.volume_error(empty, empty) == 0.0
    assert metrics.volume_error(some, empty) == float("inf")
    assert metrics.volume_error(empty, some) == -1.0
    assert metrics.specificity(full, full) == 1.0  # no negatives in the reference
    assert metrics.specificity(empty, empty) == 1.0


def test_per_volume_iou_is_seed_000s_formula():
    rng = np.random.default_rng(0)
    probs = rng.random((6, 8, 8))
    true = rng.random((6, 8, 8)) < 0.5
    pred = probs >= 0.5
    thesis = ((pred * true).sum() + 1e-6) / ((pred + true).sum() + 1e-6)  # numpy + on booleans is OR
    assert metrics.per_volume_iou(probs, true) == pytest.approx(thesis, rel=1e-12)
    assert metrics.per_volume_iou(probs, true) == pytest.approx(metrics.iou_score(pred, true), abs=1e-6)
    empty = np.zeros((2, 2))
    assert metrics.per_volume_iou(empty, empty.astype(bool)) == 1.0


def test_brats_regions_by_hand():
    true = np.array([[1, 2, 3, 4, 0, 0]])
    pred = np.array([[1, 2, 2, 4, 4, 0]])
    scores = metrics.per_region_metrics(pred, true)
    # whole {1,2,3,4}: pred 5 voxels, true 4, shared 4; core {1,3,4}: pred {0,3,4} true {0,2,3};
    # enhancing {4}: pred {3,4} true {3}.
    assert scores["whole"]["Dice"] == pytest.approx(2 * 4 / 9)
    assert scores["core"]["Dice"] == pytest.approx(2 * 2 / 6)
    assert scores["enhancing"]["Dice"] == pytest.approx(2 * 1 / 3)
    assert scores["enhancing"]["Precision"] == pytest.approx(1 / 2)
    assert scores["core"]["Sensitivity"] == pytest.approx(2 / 3)
    assert scores["whole"]["Specificity"] == pytest.approx(1 / 2)
    assert metrics.BRATS_REGIONS == {"whole": (1, 2, 3, 4), "core": (1, 3, 4), "enhancing": (4,)}
