import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxseg import losses
from jaxseg.metrics import dice_score, iou_score, markdown_table, per_class_overlap, summarize


def test_dice_and_iou_hand_case():
    pred = np.zeros((4, 4), bool)
    true = np.zeros((4, 4), bool)
    pred[0, :3] = True  # 3 voxels
    true[0, 1:] = True  # 3 voxels, 2 shared
    assert dice_score(pred, true) == pytest.approx(2 * 2 / 6)
    assert iou_score(pred, true) == pytest.approx(2 / 4)


def test_empty_mask_convention():
    empty, full = np.zeros((3, 3), bool), np.ones((3, 3), bool)
    assert dice_score(empty, empty) == 1.0 and iou_score(empty, empty) == 1.0
    assert dice_score(empty, full) == 0.0 and iou_score(full, empty) == 0.0


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="differs"):
        dice_score(np.zeros((2, 2)), np.zeros((2, 3)))


def test_per_class_overlap_and_summary():
    true = np.array([[0, 1, 1], [2, 2, 0]])
    pred = np.array([[0, 1, 0], [2, 2, 2]])
    scores = per_class_overlap(pred, true, {0: "background", 1: "a", 2: "b"})
    assert scores == {"a": {"Dice": pytest.approx(2 / 3), "IoU": pytest.approx(1 / 2)},
                      "b": {"Dice": pytest.approx(4 / 5), "IoU": pytest.approx(2 / 3)}}
    summary = summarize([{"case_id": "c1", "metrics": scores},
                         {"case_id": "c2",
                          "metrics": {"a": {"Dice": 1.0, "IoU": 1.0}, "b": {"Dice": 0.0, "IoU": 0.0}}}])
    assert summary["mean"]["a"]["Dice"] == pytest.approx((2 / 3 + 1) / 2)
    assert summary["mean"]["b"]["IoU"] == pytest.approx(1 / 3)
    assert summary["foreground_mean"]["Dice"] == pytest.approx(((2 / 3 + 1) / 2 + 0.4) / 2)
    table = markdown_table(summary)
    assert "| c1 | 0.667 | 0.800 | 0.733 |" in table
    assert table.splitlines()[-1] == "| **mean** | 0.833 | 0.400 | 0.617 |"


def test_cross_entropy_hand_case():
    logits = jnp.array([[[2.0, 0.0], [0.0, 1.0]]])  # (N=1, W=2, C=2)
    labels = jnp.array([[0, 0]])
    per_voxel = np.array([np.log1p(np.exp(-2.0)), np.log1p(np.exp(1.0))])
    assert float(losses.cross_entropy(logits, labels)) == pytest.approx(per_voxel.mean(), rel=1e-6)
    weighted = losses.cross_entropy(logits, jnp.array([[0, 1]]), class_weights=jnp.array([1.0, 3.0]))
    expected = (per_voxel[0] + 3 * np.log1p(np.exp(-1.0))) / 4
    assert float(weighted) == pytest.approx(expected, rel=1e-6)


def _numpy_dice_loss(probs, onehot, batch, smooth=1e-5):
    axes = tuple(range(0 if batch else 1, probs.ndim - 1))
    inter = (probs * onehot).sum(axes)
    denom = probs.sum(axes) + onehot.sum(axes)
    return float(np.mean(1 - (2 * inter + smooth) / (denom + smooth)))


@pytest.mark.parametrize("batch", [True, False])
@pytest.mark.parametrize("include_background", [True, False])
def test_dice_loss_matches_its_formula(batch, include_background):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 5, 6, 3)).astype(np.float32)
    labels = rng.integers(0, 3, size=(2, 5, 6))
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    onehot = np.eye(3)[labels]
    if not include_background:
        probs, onehot = probs[..., 1:], onehot[..., 1:]
    got = losses.dice_loss(jnp.asarray(logits), jnp.asarray(labels), include_background, batch=batch)
    assert float(got) == pytest.approx(_numpy_dice_loss(probs, onehot, batch), rel=1e-5)


def test_dice_loss_near_zero_for_a_confident_correct_prediction():
    labels = jnp.array([[0, 1, 2, 1]])
    logits = 30.0 * jax.nn.one_hot(labels, 3)
    assert float(losses.dice_loss(logits, labels)) < 1e-5
    assert float(losses.dice_ce_loss(logits, labels)) < 1e-5


@pytest.mark.parametrize("labels", [np.zeros((1, 4, 4), int), np.ones((1, 4, 4), int)])
def test_loss_gradients_are_finite_at_empty_and_perfect_predictions(labels):
    for logits in (jnp.zeros((1, 4, 4, 2)), 50.0 * jax.nn.one_hot(labels, 2)):
        grads = jax.grad(losses.dice_ce_loss)(logits, jnp.asarray(labels))
        assert bool(jnp.all(jnp.isfinite(grads)))
