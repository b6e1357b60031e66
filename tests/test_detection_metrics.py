"""Detection metrics by hand: box IoU, RSNA mAP and its empty-image rules, DSB2018 mAP, COCO AP@0.5."""

import numpy as np
import pytest

from jaxseg import metrics


def test_box_iou_by_hand():
    iou = metrics.box_iou([[0, 0, 2, 2]], [[1, 1, 3, 3], [0, 0, 2, 2], [5, 5, 5, 9]])
    np.testing.assert_allclose(iou, [[1 / 7, 1.0, 0.0]])  # the last box has no area
    np.testing.assert_allclose(metrics.xywh_to_xyxy([[10, 20, 5, 6]]), [[10, 20, 15, 26]])


def test_rsna_score_counts_thresholds_where_the_match_holds():
    true = [[0, 0, 10, 10]]
    pred = [[0, 0, 10, 5]]  # IoU 0.5: a hit at t = 0.40, 0.45, 0.50 of the 8 thresholds
    assert metrics.rsna_image_score(true, pred, [0.9]) == pytest.approx(3 / 8)


def test_rsna_empty_image_rules():
    nothing = np.zeros((0, 4))
    assert metrics.rsna_image_score(nothing, nothing, []) is None
    assert metrics.rsna_image_score(nothing, [[0, 0, 5, 5]], [0.5]) == 0.0
    assert metrics.rsna_image_score([[0, 0, 5, 5]], nothing, []) == 0.0
    images = [(nothing, nothing, []), ([[0, 0, 10, 10]], [[0, 0, 10, 10]], [0.8]), (nothing, [[0, 0, 5, 5]], [0.5])]
    assert metrics.rsna_map(images) == pytest.approx(0.5)  # the first image does not count
    assert metrics.rsna_map([(nothing, nothing, [])]) == 1.0


def test_rsna_predictions_are_taken_in_score_order():
    true = [[0, 0, 10, 10], [0, 6, 10, 12]]
    a, b = [0, 4, 10, 10], [0, 0, 10, 10]  # IoU(true0, a) = 0.6, IoU(true1, a) = 0.5, IoU(true1, b) = 1/3
    # a ranked first: the first reference box takes a and the second finds nothing: 1/3 everywhere.
    assert metrics.rsna_image_score(true, [a, b], [0.9, 0.5]) == pytest.approx(1 / 3)
    # b ranked first: both boxes match for t <= 0.5 (3 thresholds), 1/3 above.
    assert metrics.rsna_image_score(true, [a, b], [0.5, 0.9]) == pytest.approx((3 + 5 / 3) / 8)


def test_dsb2018_instance_map_by_hand():
    true = np.zeros((10, 10), int)
    true[0:2, 0:5] = 7  # 10 voxels
    true[5:10, 5:7] = 3  # 10 voxels
    pred = np.zeros((10, 10), int)
    pred[0:2, 0:5] = 1  # exact
    pred[5:10, 5:6] = 2  # 5 of 10 voxels ...
    pred[5:8, 7] = 2  # ... plus 3 outside: IoU 5 / 13
    # t = 0.5 .. 0.95: the exact object always matches, the other never (5/13 < 0.5).
    assert metrics.instance_map(pred, true) == pytest.approx(1 / 3)
    pred[5:10, 5:7] = 2
    pred[5:8, 7] = 0
    pred[9, 6] = 0  # IoU 9 / 10: a match up to t = 0.85 (8 thresholds), strictly above t
    assert metrics.instance_map(pred, true) == pytest.approx((8 * 1 + 2 * (1 / 3)) / 10)
    empty = np.zeros((4, 4), int)
    assert metrics.instance_map(empty, empty) == 1.0
    assert metrics.instance_map(empty, true[:4, :4]) == 0.0
    assert metrics.dsb2018_map([(empty, empty), (empty, true[:4, :4])]) == 0.5


def test_coco_average_precision_at_05_by_hand():
    true = [np.array([[0, 0, 10, 10], [20, 20, 30, 30]])]
    pred = [np.array([[0, 0, 10, 10], [50, 50, 60, 60], [20, 20, 30, 29]])]
    scores = [np.array([0.9, 0.8, 0.7])]  # TP, FP, TP: precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1
    expected = (51 * 1.0 + 50 * (2 / 3)) / 101  # recalls 0..0.5 at precision 1, the rest at 2/3
    assert metrics.average_precision(true, pred, scores) == pytest.approx(expected)
    # At IoU 0.95 the third box (IoU 0.9) misses: recall stops at 1/2.
    assert metrics.average_precision(true, pred, scores, iou_threshold=0.95) == pytest.approx(51 / 101)
    assert metrics.average_precision([np.zeros((0, 4))], [np.zeros((0, 4))], [np.zeros(0)]) == 1.0
    assert metrics.average_precision(true, [np.zeros((0, 4))], [np.zeros(0)]) == 0.0
