"""Soft overlap losses on probabilities: Dice, Jaccard (Tanimoto), generalised Dice, Tversky, Dice+CE.

Shapes: logits (N, *spatial, C) float; labels integer class indices (N, *spatial) or per-channel
targets (N, *spatial, C). p are the probabilities (softmax over C, or a sigmoid per channel), g the
targets. Sums run over the spatial axes of each sample, and over the batch axis too when `batch`
(nnU-Net's batch Dice); `include_background=False` drops channel 0 when C > 1, as MONAI does.
Every loss returns a float32 scalar.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxseg.losses._targets import channel_targets, probabilities, reduce_axes
from jaxseg.losses.cross_entropy import binary_cross_entropy, cross_entropy


def _probs_and_targets(logits: jax.Array, labels: jax.Array, activation: str,
                       include_background: bool) -> tuple[jax.Array, jax.Array]:
    probs, targets = probabilities(logits, activation), channel_targets(labels, logits)
    if not include_background and logits.shape[-1] > 1:
        probs, targets = probs[..., 1:], targets[..., 1:]
    return probs, targets


def dice_loss(logits: jax.Array, labels: jax.Array, include_background: bool = False,
              smooth_nr: float = 1e-5, smooth_dr: float = 1e-5, batch: bool = True, *,
              activation: str = "softmax", squared_pred: bool = False) -> jax.Array:
    """Soft Dice loss, MONAI's DiceLoss with the same options (to_onehot_y for integer labels).

    Per class c (and per sample unless `batch`): 1 - (2 sum p g + smooth_nr) / (sum g + sum p + smooth_dr),
    with g^2 and p^2 in the denominator when `squared_pred`; then the mean over classes (and samples).
    Seed 003's soft Dice is smooth_nr = smooth_dr = 1.
    """
    p, g = _probs_and_targets(logits, labels, activation, include_background)
    axes = reduce_axes(p.ndim, batch)
    intersection = (p * g).sum(axes)
    ground, pred = (g * g, p * p) if squared_pred else (g, p)
    return (1.0 - (2.0 * intersection + smooth_nr) / (ground.sum(axes) + pred.sum(axes) + smooth_dr)).mean()


def jaccard_loss(logits: jax.Array, labels: jax.Array, include_background: bool = True, batch: bool = True, *,
                 activation: str = "softmax") -> jax.Array:
    """Seed 001's Tanimoto loss: sum over classes of 1 - sum p g / (sum g^2 + sum p^2 - sum p g).

    One-vs-all per class and summed (so in [0, C] with the background, as the seed's code does);
    p is clipped to [1e-8, 1 - 1e-8] as there, which keeps the denominator positive. Per-sample
    sums (batch=False) are averaged over the samples.
    """
    p, g = _probs_and_targets(logits, labels, activation, include_background)
    p = jnp.clip(p, 1e-8, 1.0 - 1e-8)
    axes = reduce_axes(p.ndim, batch)
    overlap = (p * g).sum(axes)
    per_class = 1.0 - overlap / ((g * g).sum(axes) + (p * p).sum(axes) - overlap)
    return per_class.sum(-1).mean()


GDL_WEIGHT_TYPES = ("square", "simple", "uniform")


def generalized_dice_loss(logits: jax.Array, labels: jax.Array, include_background: bool = False,
                          smooth_nr: float = 1e-5, smooth_dr: float = 1e-5, batch: bool = True, *,
                          activation: str = "softmax", w_type: str = "square") -> jax.Array:
    """Generalised Dice (Sudre et al. 2017), MONAI's GeneralizedDiceLoss with the same w_type.

    w_c = 1 / (sum g_c)^2 (square), 1 / sum g_c (simple) or 1 (uniform);
    loss = 1 - (2 sum_c w_c sum p g + smooth_nr) / (sum_c w_c (sum p + sum g) + smooth_dr),
    per sample (mean over samples) or over the batch. A class absent from the targets would get an
    infinite weight: as MONAI, it gets the largest finite weight instead.
    """
    p, g = _probs_and_targets(logits, labels, activation, include_background)
    axes = reduce_axes(p.ndim, batch)
    intersection = (p * g).sum(axes)
    denominator = p.sum(axes) + g.sum(axes)
    ground = g.sum(axes)
    present = ground > 0
    if w_type not in GDL_WEIGHT_TYPES:
        raise ValueError(f"w_type must be one of {', '.join(GDL_WEIGHT_TYPES)}, got '{w_type}'")
    safe = jnp.where(present, ground, 1.0)
    w = {"square": 1.0 / safe**2, "simple": 1.0 / safe, "uniform": jnp.ones_like(safe)}[w_type]
    w = jnp.where(present, w, 0.0)
    w = jnp.where(present, w, w.max(-1, keepdims=True))
    numer = 2.0 * (w * intersection).sum(-1) + smooth_nr
    denom = (w * denominator).sum(-1) + smooth_dr
    return (1.0 - numer / denom).mean()


def tversky_loss(logits: jax.Array, labels: jax.Array, alpha: float = 0.5, beta: float = 0.5,
                 include_background: bool = False, smooth_nr: float = 1e-5, smooth_dr: float = 1e-5,
                 batch: bool = True, *, activation: str = "softmax") -> jax.Array:
    """Tversky loss (Salehi et al. 2017), MONAI's TverskyLoss: 1 - (TP + nr) / (TP + alpha FP + beta FN + dr).

    TP = sum p g, FP = sum p (1 - g), FN = sum (1 - p) g per class; the mean over classes (and
    samples). alpha = beta = 0.5 is the soft Dice loss.
    """
    p, g = _probs_and_targets(logits, labels, activation, include_background)
    axes = reduce_axes(p.ndim, batch)
    tp = (p * g).sum(axes)
    fp = (p * (1.0 - g)).sum(axes)
    fn = ((1.0 - p) * g).sum(axes)
    return (1.0 - (tp + smooth_nr) / (tp + alpha * fp + beta * fn + smooth_dr)).mean()


def dice_ce_loss(logits: jax.Array, labels: jax.Array, dice_weight: float = 1.0, ce_weight: float = 1.0,
                 include_background: bool = False, class_weights: jax.Array | None = None, *,
                 smooth_nr: float = 1e-5, smooth_dr: float = 1e-5, batch: bool = True, squared_pred: bool = False,
                 activation: str = "softmax", pos_weight: float = 1.0, neg_weight: float = 1.0) -> jax.Array:
    """nnU-Net's Dice + CE: dice_weight * soft Dice (`dice_loss`, batch Dice by default) + ce_weight * CE.

    The CE is softmax cross-entropy weighted by `class_weights` under a softmax head, and sigmoid
    BCE weighted by pos_weight / neg_weight under a sigmoid one (MONAI's DiceCELoss(sigmoid=True)).
    nnU-Net adds -Dice rather than 1 - Dice; the constant changes neither gradients nor optima.
    """
    dice = dice_loss(logits, labels, include_background, smooth_nr, smooth_dr, batch, activation=activation,
                     squared_pred=squared_pred)
    if activation == "sigmoid":
        ce = binary_cross_entropy(logits, labels, pos_weight, neg_weight)
    else:
        ce = cross_entropy(logits, labels, class_weights=class_weights)
    return dice_weight * dice + ce_weight * ce
