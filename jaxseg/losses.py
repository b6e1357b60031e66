"""Segmentation losses: pure functions of logits and integer labels, jit-compatible.

Shapes: logits (N, *spatial, C) float; labels (N, *spatial) integer class indices in [0, C).
Every loss returns a float32 scalar.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax


def cross_entropy(logits: jax.Array, labels: jax.Array, class_weights: jax.Array | None = None) -> jax.Array:
    """Softmax cross-entropy, mean over voxels: -sum_c y_c log softmax(z)_c.

    class_weights: optional (C,) weights gamma_c; the mean is then sum(gamma_y * ce) / sum(gamma_y),
    as torch.nn.CrossEntropyLoss(weight=...) does.
    """
    ce = optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), labels)
    if class_weights is None:
        return ce.mean()
    w = jnp.asarray(class_weights, jnp.float32)[labels]
    return (w * ce).sum() / w.sum()


def dice_loss(logits: jax.Array, labels: jax.Array, include_background: bool = False,
              smooth_nr: float = 1e-5, smooth_dr: float = 1e-5, batch: bool = True) -> jax.Array:
    """Soft Dice loss on softmax probabilities, as MONAI's DiceLoss(softmax=True, to_onehot_y=True).

    Per class c: 1 - (2 sum(p_c g_c) + smooth_nr) / (sum(p_c) + sum(g_c) + smooth_dr), the sums
    over voxels (and over the batch when `batch`, nnU-Net's batch Dice), then the mean over
    classes (and samples). include_background=False drops class 0.
    """
    probs = jax.nn.softmax(logits.astype(jnp.float32), axis=-1)
    onehot = jax.nn.one_hot(labels, logits.shape[-1], dtype=jnp.float32)
    if not include_background:
        probs, onehot = probs[..., 1:], onehot[..., 1:]
    axes = tuple(range(0 if batch else 1, logits.ndim - 1))
    intersection = (probs * onehot).sum(axes)
    denominator = probs.sum(axes) + onehot.sum(axes)
    return (1.0 - (2.0 * intersection + smooth_nr) / (denominator + smooth_dr)).mean()


def dice_ce_loss(logits: jax.Array, labels: jax.Array, dice_weight: float = 1.0, ce_weight: float = 1.0,
                 include_background: bool = False) -> jax.Array:
    """nnU-Net's Dice + CE: dice_weight * batch soft Dice loss + ce_weight * cross-entropy."""
    return dice_weight * dice_loss(logits, labels, include_background) + ce_weight * cross_entropy(logits, labels)
