"""Losses: hand-computed values, identities between losses, jit, and finite gradients."""

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxseg import losses

LOG2 = math.log(2.0)


def test_cross_entropy_ignore_index_and_label_smoothing_by_hand():
    logits = jnp.array([[[2.0, 0.0], [0.0, 1.0]]])  # (N=1, W=2, C=2)
    nll0 = math.log1p(math.exp(-2.0))  # -log p0 of the first voxel
    nll1 = math.log1p(math.exp(2.0))  # -log p1 of the first voxel
    ignored = losses.cross_entropy(logits, jnp.array([[0, 255]]), ignore_index=255)
    assert float(ignored) == pytest.approx(nll0, rel=1e-6)
    # eps = 0.2, C = 2: 0.8 nll + 0.1 (nll0 + nll1) on the first voxel alone.
    smoothed = losses.cross_entropy(logits[:, :1], jnp.array([[0]]), label_smoothing=0.2)
    assert float(smoothed) == pytest.approx(0.9 * nll0 + 0.1 * nll1, rel=1e-6)
    everything_ignored = losses.cross_entropy(logits, jnp.array([[255, 255]]), ignore_index=255)
    assert float(everything_ignored) == 0.0


def test_cross_entropy_one_hot_targets_equal_integer_labels():
    rng = np.random.default_rng(0)
    logits = jnp.asarray(rng.normal(size=(2, 3, 4, 3)), jnp.float32)
    labels = rng.integers(0, 3, size=(2, 3, 4))
    onehot = jnp.asarray(np.eye(3)[labels], jnp.float32)
    assert float(losses.cross_entropy(logits, onehot)) == pytest.approx(float(losses.cross_entropy(logits, labels)),
                                                                      rel=1e-6)


def test_binary_cross_entropy_weights_by_hand():
    logits = jnp.zeros((1, 2, 1))  # p = 0.5 everywhere
    targets = jnp.array([[1, 0]])  # integer labels with a one-channel head
    assert float(losses.binary_cross_entropy(logits, targets, pos_weight=3.0, neg_weight=1.0)) == pytest.approx(
        (3 * LOG2 + LOG2) / 2, rel=1e-6)


def test_inverse_frequency_weights_are_seed_000s():
    neg, pos = losses.inverse_frequency_weights(0.289)
    assert (round(neg, 3), round(pos, 3)) == (1.406, 3.460)
    with pytest.raises(ValueError, match="fraction"):
        losses.inverse_frequency_weights(0.0)


def test_focal_loss_by_hand_and_as_cross_entropy_at_gamma_zero():
    logits, target = jnp.zeros((1, 1, 1)), jnp.ones((1, 1, 1))  # p_t = 0.5
    assert float(losses.focal_loss(logits, target, gamma=2.0)) == pytest.approx(0.25 * LOG2, rel=1e-6)
    assert float(losses.focal_loss(logits, target, gamma=2.0, alpha=0.25)) == pytest.approx(0.0625 * LOG2, rel=1e-6)
    rng = np.random.default_rng(1)
    z = jnp.asarray(rng.normal(size=(2, 5, 3)), jnp.float32)
    labels = jnp.asarray(rng.integers(0, 3, size=(2, 5)))
    assert float(losses.focal_loss(z, labels, gamma=0.0, activation="softmax")) == pytest.approx(
        float(losses.cross_entropy(z, labels)), rel=1e-6)
    binary = jnp.asarray(rng.random((2, 5, 3)) < 0.5, jnp.float32)
    assert float(losses.focal_loss(z, binary, gamma=0.0)) == pytest.approx(
        float(losses.binary_cross_entropy(z, binary)), rel=1e-6)


def test_dice_loss_seed_003_smoothing_by_hand():
    logits = jnp.zeros((1, 2, 1))  # sigmoid 0.5, 0.5
    target = jnp.array([[1, 0]])
    got = losses.dice_loss(logits, target, include_background=True, smooth_nr=1.0, smooth_dr=1.0,
                           activation="sigmoid")
    assert float(got) == pytest.approx(1 - (2 * 0.5 + 1) / (1 + 1 + 1), rel=1e-6)
    nothing = losses.dice_loss(jnp.full((1, 4, 1), -40.0), jnp.zeros((1, 4), int), smooth_nr=1.0, smooth_dr=1.0,
                               activation="sigmoid")
    assert float(nothing) == pytest.approx(0.0, abs=1e-6)  # empty prediction of an empty target


def test_jaccard_loss_is_seed_001s_summed_tanimoto():
    target = jnp.array([[1, 0]])
    one_channel = losses.jaccard_loss(jnp.zeros((1, 2, 1)), target, activation="sigmoid")
    assert float(one_channel) == pytest.approx(1 - 0.5 / (1 + 0.5 - 0.5), rel=1e-6)
    # Softmax over 2 classes, p = 0.5 each: background and foreground each lose 0.5, summed.
    assert float(losses.jaccard_loss(jnp.zeros((1, 2, 2)), target)) == pytest.approx(1.0, rel=1e-6)
    assert float(losses.jaccard_loss(jnp.zeros((1, 2, 2)), target, include_background=False)) == pytest.approx(
        0.5, rel=1e-6)
    perfect = 40.0 * jax.nn.one_hot(target, 2)
    assert float(losses.jaccard_loss(perfect, target)) == pytest.approx(0.0, abs=1e-5)


def test_generalized_dice_and_tversky_reduce_to_dice():
    rng = np.random.default_rng(2)
    logits = jnp.asarray(rng.normal(size=(2, 6, 5, 2)), jnp.float32)
    labels = jnp.asarray(rng.integers(0, 2, size=(2, 6, 5)))
    dice = float(losses.dice_loss(logits, labels, smooth_nr=0.0, smooth_dr=0.0))
    # One foreground channel: the class weight cancels in generalised Dice.
    assert float(losses.generalized_dice_loss(logits, labels, smooth_nr=0.0, smooth_dr=0.0)) == pytest.approx(
        dice, rel=1e-5)
    assert float(losses.tversky_loss(logits, labels, 0.5, 0.5, smooth_nr=0.0, smooth_dr=0.0)) == pytest.approx(
        dice, rel=1e-5)


def test_tversky_alpha_one_beta_zero_is_one_minus_precision_by_hand():
    logits = jnp.array([[[40.0], [40.0], [-40.0]]])  # predicted 1, 1, 0
    target = jnp.array([[1, 0, 1]])  # TP 1, FP 1, FN 1
    got = losses.tversky_loss(logits, target, alpha=1.0, beta=0.0, include_background=True, smooth_nr=0.0,
                              smooth_dr=0.0, activation="sigmoid")
    assert float(got) == pytest.approx(0.5, abs=1e-6)


def test_generalized_dice_gives_an_absent_class_the_largest_weight():
    # Two samples (batch=False): class 2 absent from the second; its weight becomes the largest finite one.
    probs_logits = jnp.log(jnp.array([[[0.5, 0.25, 0.25], [0.25, 0.5, 0.25]]]))
    labels = jnp.array([[0, 1]])
    p = np.array([[0.5, 0.25, 0.25], [0.25, 0.5, 0.25]])
    g = np.eye(3)[[0, 1]]
    inter, denom, ground = (p * g).sum(0), p.sum(0) + g.sum(0), g.sum(0)
    w = np.array([1.0, 1.0, 1.0])  # 1/1^2 for classes 0 and 1; class 2 absent -> max = 1
    expected = 1 - (2 * (w * inter).sum() + 1e-5) / ((w * denom).sum() + 1e-5)
    got = losses.generalized_dice_loss(probs_logits, labels, include_background=True, batch=False)
    assert float(got) == pytest.approx(expected, rel=1e-5)
    assert ground[2] == 0


def test_dice_ce_is_the_sum_of_its_parts():
    rng = np.random.default_rng(3)
    logits = jnp.asarray(rng.normal(size=(2, 4, 4, 3)), jnp.float32)
    labels = jnp.asarray(rng.integers(0, 3, size=(2, 4, 4)))
    expected = 2.0 * losses.dice_loss(logits, labels) + 0.5 * losses.cross_entropy(logits, labels)
    assert float(losses.dice_ce_loss(logits, labels, dice_weight=2.0, ce_weight=0.5)) == pytest.approx(
        float(expected), rel=1e-6)


def test_deep_supervision_weights_are_nnunets():
    np.testing.assert_allclose(losses.deep_supervision_weights(4), np.array([1, 0.5, 0.25, 0]) / 1.75)
    np.testing.assert_allclose(losses.deep_supervision_weights(2), [1.0, 0.0])
    np.testing.assert_allclose(losses.deep_supervision_weights(1), [1.0])


def test_downsample_labels_takes_the_nearest_voxel():
    labels = jnp.arange(16).reshape(1, 4, 4)
    np.testing.assert_array_equal(losses.downsample_labels(labels, (2, 2)), [[[5, 7], [13, 15]]])


def test_deep_supervision_loss_weights_downsampled_losses():
    rng = np.random.default_rng(4)
    labels = jnp.asarray(rng.integers(0, 2, size=(2, 8, 8)))
    outputs = [jnp.asarray(rng.normal(size=(2, s, s, 2)), jnp.float32) for s in (8, 4, 2)]
    got = losses.deep_supervision_loss(outputs, labels, losses.dice_ce_loss)
    expected = (losses.dice_ce_loss(outputs[0], labels)
                + 0.5 * losses.dice_ce_loss(outputs[1], labels[:, 1::2, 1::2])) / 1.5
    assert float(got) == pytest.approx(float(expected), rel=1e-6)


def test_smooth_l1_with_sigma_by_hand():
    pred = jnp.array([[0.05, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    target = jnp.zeros((2, 4))
    box0 = 0.5 * 9 * 0.05**2 + (1.0 - 0.5 / 9)  # sigma 3: quadratic below 1/9, linear above
    assert float(losses.smooth_l1(pred, target, sigma=3.0)) == pytest.approx(box0 / 2, rel=1e-6)
    weighted = losses.smooth_l1(pred, target, sigma=1.0, weights=jnp.array([1.0, 0.0]), normalizer=4.0)
    assert float(weighted) == pytest.approx((0.5 * 0.05**2 + 0.5) / 4, rel=1e-6)


SOFTMAX_LOSSES = {
    "cross_entropy": losses.cross_entropy,
    "dice": losses.dice_loss,
    "dice_per_sample": partial(losses.dice_loss, batch=False, include_background=True),
    "jaccard": losses.jaccard_loss,
    "generalized_dice": losses.generalized_dice_loss,
    "tversky": partial(losses.tversky_loss, alpha=0.3, beta=0.7),
    "dice_ce": losses.dice_ce_loss,
    "focal_softmax": partial(losses.focal_loss, activation="softmax"),
}
SIGMOID_LOSSES = {
    "bce": partial(losses.binary_cross_entropy, pos_weight=3.46, neg_weight=1.406),
    "focal": partial(losses.focal_loss, alpha=0.25),
    "dice_sigmoid": partial(losses.dice_loss, activation="sigmoid", squared_pred=True),
    "jaccard_sigmoid": partial(losses.jaccard_loss, activation="sigmoid"),
}


@pytest.mark.parametrize("name", list(SOFTMAX_LOSSES) + list(SIGMOID_LOSSES))
def test_gradients_finite_at_perfect_and_empty_predictions(name):
    fn = jax.jit(jax.value_and_grad({**SOFTMAX_LOSSES, **SIGMOID_LOSSES}[name]))  # one compile per loss
    for fill in (0, 1):
        _check_finite_gradients(name, fn, jnp.full((2, 4, 4), fill))


def _check_finite_gradients(name, value_and_grad, labels):
    if name in SOFTMAX_LOSSES:
        candidates = [50.0 * jax.nn.one_hot(labels, 2), 50.0 * jax.nn.one_hot(jnp.zeros_like(labels), 2),
                      jnp.zeros((2, 4, 4, 2))]
    else:
        perfect = jnp.where(labels[..., None] == 1, 50.0, -50.0)
        candidates = [perfect, jnp.full((2, 4, 4, 1), -50.0), jnp.zeros((2, 4, 4, 1))]
    for logits in candidates:
        value, grads = value_and_grad(logits, labels)
        assert np.isfinite(float(value)), name
        assert bool(jnp.all(jnp.isfinite(grads))), name


@pytest.mark.parametrize("name", list(SOFTMAX_LOSSES))
def test_losses_jit_to_the_same_value(name):
    rng = np.random.default_rng(5)
    logits = jnp.asarray(rng.normal(size=(2, 4, 4, 3)), jnp.float32)
    labels = jnp.asarray(rng.integers(0, 3, size=(2, 4, 4)))
    fn = SOFTMAX_LOSSES[name]
    assert float(jax.jit(fn)(logits, labels)) == pytest.approx(float(fn(logits, labels)), rel=1e-6)


def test_mismatched_targets_are_an_error():
    with pytest.raises(ValueError, match="fit neither"):
        losses.dice_loss(jnp.zeros((1, 4, 4, 2)), jnp.zeros((1, 4, 5), int))
