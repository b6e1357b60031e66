"""jaxseg against MONAI, torch, DeepMind surface-distance and pycocotools, through their committed values.

tests/data/reference_values.json holds those packages' outputs on fixed inputs (written by
tests/reference/make_golden.py, versions inside), so these tests need none of them installed.
"""

import json
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

from jaxseg import losses, metrics
from tests.reference.cases import decode

REFERENCE = json.loads((Path(__file__).parent / "data" / "reference_values.json").read_text())
INPUTS = {key: decode(value) for key, value in REFERENCE["inputs"].items()}


def _labels(key: str, num_classes: int) -> np.ndarray:
    if key.startswith("onehot:"):
        return np.eye(num_classes, dtype=np.float32)[INPUTS[key.removeprefix("onehot:")]]
    return INPUTS[key]


@pytest.mark.parametrize("case", REFERENCE["losses"], ids=lambda c: f"{c['loss']}-{c['logits']}-{c['labels']}")
def test_loss_equals_reference(case):
    logits = INPUTS[case["logits"]]
    labels = _labels(case["labels"], logits.shape[-1])
    options = dict(case["options"])
    if "class_weights" in options:
        options["class_weights"] = jnp.asarray(options["class_weights"])
    got = float(getattr(losses, case["loss"])(jnp.asarray(logits), jnp.asarray(labels), **options))
    assert got == pytest.approx(case["value"], rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("case", REFERENCE["metrics"], ids=lambda c: f"{len(c['spacing'])}d-{c['spacing']}")
def test_metrics_equal_monai_and_surface_distance(case):
    pred, true, spacing = decode(case["pred"]), decode(case["true"]), case["spacing"]
    ref = case["values"]
    got = {
        "hausdorff_distance": metrics.hausdorff_distance(pred, true, spacing),
        "hausdorff_distance_95": metrics.hausdorff_distance(pred, true, spacing, percentile=95),
        "average_surface_distance": metrics.average_surface_distance(pred, true, spacing),
        "average_surface_distance_directed": metrics.average_surface_distance(pred, true, spacing, symmetric=False),
        "dice_score": metrics.dice_score(pred, true),
        "iou_score": metrics.iou_score(pred, true),
    }
    for name, value in got.items():
        assert value == pytest.approx(ref[name], rel=1e-4), name
    for tolerance, value in ref["normalized_surface_dice"].items():
        assert metrics.normalized_surface_dice(pred, true, float(tolerance), spacing) == pytest.approx(value, rel=1e-4)


def test_reference_file_covers_both_dimensions_and_anisotropy():
    spacings = [tuple(c["spacing"]) for c in REFERENCE["metrics"]]
    assert {len(s) for s in spacings} == {2, 3}
    assert any(len(set(s)) > 1 for s in spacings)
    assert {c["loss"] for c in REFERENCE["losses"]} >= {
        "dice_loss", "generalized_dice_loss", "tversky_loss", "dice_ce_loss", "cross_entropy", "focal_loss",
        "binary_cross_entropy"}


def test_average_precision_equals_pycocotools():
    images = [[decode(a) for a in image] for image in REFERENCE["detection"]["images"]]
    got = metrics.average_precision(*zip(*images))
    assert got == pytest.approx(REFERENCE["detection"]["coco_ap50"], rel=1e-9)
