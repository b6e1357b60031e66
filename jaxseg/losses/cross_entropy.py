"""Per-voxel likelihood losses: softmax cross-entropy, sigmoid binary cross-entropy, focal loss.

Shapes: logits (N, *spatial, C) float; labels either integer class indices (N, *spatial) or
per-channel targets (N, *spatial, C). Every loss returns a float32 scalar.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxseg.losses._targets import channel_targets


def _safe_divide(numerator: jax.Array, denominator: jax.Array) -> jax.Array:
    # 0 (not nan) when nothing is counted, e.g. every voxel ignored, so a batch cannot poison training.
    return jnp.where(denominator > 0, numerator / jnp.where(denominator > 0, denominator, 1.0), 0.0)


def cross_entropy(logits: jax.Array, labels: jax.Array, class_weights: jax.Array | None = None,
                  ignore_index: int | None = None, label_smoothing: float = 0.0) -> jax.Array:
    """Softmax cross-entropy -sum_c t_c log softmax(z)_c, averaged as torch.nn.CrossEntropyLoss does.

    logits: (N, *spatial, C). labels: integer (N, *spatial) or probabilities/one-hot (N, *spatial, C).
    class_weights: optional (C,) weights w_c (seed 003's weighted CE, gamma_c ~ 1/frequency).
    ignore_index: integer labels equal to it contribute nothing (integer labels only).
    label_smoothing eps: targets become (1 - eps) t + eps / C.

    Integer labels: sum_i [(1-eps) w_{y_i} nll_i + eps/C sum_c w_c (-log p_ic)] / sum_i w_{y_i},
    the sums over non-ignored voxels i. Probability targets: the plain mean over voxels of
    -sum_c w_c t_ic log p_ic. Without options both are the mean per-voxel cross-entropy.
    """
    log_probs = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
    num_classes = logits.shape[-1]
    weights = (jnp.ones((num_classes,), jnp.float32) if class_weights is None
               else jnp.asarray(class_weights, jnp.float32))
    if labels.ndim == logits.ndim:
        if ignore_index is not None:
            raise ValueError("ignore_index needs integer labels, not per-channel targets")
        targets = channel_targets(labels, logits)
        targets = (1.0 - label_smoothing) * targets + label_smoothing / num_classes
        return -(targets * weights * log_probs).sum(-1).mean()
    valid = jnp.ones(labels.shape, bool) if ignore_index is None else labels != ignore_index
    safe = jnp.where(valid, labels, 0)
    voxel_weight = weights[safe] * valid
    nll = -jnp.take_along_axis(log_probs, safe[..., None], axis=-1)[..., 0]
    smooth = -(weights * log_probs).sum(-1) / num_classes * valid
    total = ((1.0 - label_smoothing) * voxel_weight * nll + label_smoothing * smooth).sum()
    return _safe_divide(total, voxel_weight.sum())


def binary_cross_entropy(logits: jax.Array, targets: jax.Array, pos_weight: float = 1.0,
                         neg_weight: float = 1.0) -> jax.Array:
    """Sigmoid BCE -[w+ t log s(z) + w- (1-t) log(1-s(z))], mean over every element (Keras BCE).

    logits: (N, *spatial, C), one independent sigmoid per channel. targets: (N, *spatial, C) in
    [0, 1], or integer 0/1 labels (N, *spatial) when C == 1. pos_weight / neg_weight weight the
    foreground and background terms; `inverse_frequency_weights` gives seed 000's values.
    """
    t = channel_targets(targets, logits)
    z = logits.astype(jnp.float32)
    return -(pos_weight * t * jax.nn.log_sigmoid(z) + neg_weight * (1.0 - t) * jax.nn.log_sigmoid(-z)).mean()


def inverse_frequency_weights(foreground_fraction: float) -> tuple[float, float]:
    """Seed 000's BCE class weights (background 1/(1-f), foreground 1/f) from the foreground fraction f.

    f = 0.289 gives (1.406, 3.460). Returns (neg_weight, pos_weight) for `binary_cross_entropy`.
    """
    if not 0.0 < foreground_fraction < 1.0:
        raise ValueError(f"foreground fraction must be in (0, 1), got {foreground_fraction}")
    return 1.0 / (1.0 - foreground_fraction), 1.0 / foreground_fraction


def _modulation(x: jax.Array, gamma: float) -> jax.Array:
    # x ** 0 has a nan gradient at x == 0 (a perfect prediction): gamma = 0 is plain cross-entropy.
    return jnp.ones_like(x) if gamma == 0 else x**gamma


def focal_loss(logits: jax.Array, labels: jax.Array, gamma: float = 2.0, alpha: float | jax.Array | None = None,
               activation: str = "sigmoid") -> jax.Array:
    """Focal loss -alpha_t (1 - p_t)^gamma log p_t (Lin et al. 2017; seed 002's fetal-brain variant).

    activation "sigmoid": per element of (N, *spatial, C), p_t = p t + (1-p)(1-t), and the scalar
    alpha weights foreground by alpha and background by 1 - alpha; the mean over every element
    (MONAI FocalLoss(use_softmax=False)). activation "softmax": per voxel
    -sum_c alpha_c t_c (1 - p_c)^gamma log p_c with alpha a (C,) vector; the mean over voxels.
    gamma = 0 and alpha = None give `binary_cross_entropy` and `cross_entropy`.
    """
    z = logits.astype(jnp.float32)
    t = channel_targets(labels, logits)
    if activation == "sigmoid":
        p = jax.nn.sigmoid(z)
        ce = -(t * jax.nn.log_sigmoid(z) + (1.0 - t) * jax.nn.log_sigmoid(-z))
        p_t = p * t + (1.0 - p) * (1.0 - t)
        loss = ce * _modulation(1.0 - p_t, gamma)
        if alpha is not None:
            loss = loss * (alpha * t + (1.0 - alpha) * (1.0 - t))
        return loss.mean()
    if activation == "softmax":
        log_p = jax.nn.log_softmax(z, axis=-1)
        weights = 1.0 if alpha is None else jnp.asarray(alpha, jnp.float32)
        return -(weights * t * _modulation(1.0 - jnp.exp(log_p), gamma) * log_p).sum(-1).mean()
    raise ValueError(f"activation must be 'softmax' or 'sigmoid', got '{activation}'")
