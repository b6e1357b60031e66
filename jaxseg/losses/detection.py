"""Box regression loss for detection heads (Faster R-CNN, seed 002)."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def smooth_l1(pred: jax.Array, target: jax.Array, sigma: float = 1.0, weights: jax.Array | None = None,
              normalizer: float | jax.Array | None = None) -> jax.Array:
    """Faster R-CNN's smooth L1 with sigma: 0.5 (sigma x)^2 if |x| < 1/sigma^2, else |x| - 0.5/sigma^2.

    pred, target: (..., 4) box deltas; x = pred - target. The per-box loss is the sum over the last
    axis, times `weights` (...,) if given (the p_i* of seed 002's eq. 3.5: positives only); the
    result is the sum over boxes divided by `normalizer` (default: the number of boxes).
    sigma = 1 is the seed's smoothL1; py-faster-rcnn uses sigma 3 in the RPN and 1 in the head.
    """
    x = jnp.abs(pred.astype(jnp.float32) - target.astype(jnp.float32))
    s2 = sigma * sigma
    per_box = jnp.where(x < 1.0 / s2, 0.5 * s2 * x * x, x - 0.5 / s2).sum(-1)
    if weights is not None:
        per_box = per_box * weights
    return per_box.sum() / (per_box.size if normalizer is None else normalizer)


def sampled_cross_entropy(logits: jax.Array, labels: jax.Array, weights: jax.Array) -> jax.Array:
    """Softmax cross-entropy averaged over the sampled entries (seed 002's L_cls / N_cls).

    logits: (..., K); labels: (...,) int class indices (any value where weights are 0);
    weights: (...,) 1 for sampled anchors or RoIs, 0 for the rest. 0 when nothing is sampled.
    """
    logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
    safe = jnp.clip(labels, 0, logits.shape[-1] - 1)
    nll = -jnp.take_along_axis(logp, safe[..., None], axis=-1)[..., 0]
    weights = weights.astype(jnp.float32)
    return (nll * weights).sum() / jnp.maximum(weights.sum(), 1.0)
