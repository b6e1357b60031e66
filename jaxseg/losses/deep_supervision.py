"""nnU-Net's deep supervision: one loss per decoder resolution, targets downsampled to each."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np


def deep_supervision_weights(num_outputs: int) -> np.ndarray:
    """Weights 1/2^i for output i (0 = full resolution), the lowest resolution's set to 0, normalised.

    As nnU-Net: 4 outputs -> (1, 1/2, 1/4, 0) / 1.75. A single output gets weight 1.
    """
    if num_outputs < 1:
        raise ValueError(f"deep supervision needs at least one output, got {num_outputs}")
    weights = 0.5 ** np.arange(num_outputs)
    if num_outputs > 1:
        weights[-1] = 0.0
    return weights / weights.sum()


def downsample_labels(labels: jax.Array, spatial_shape: Sequence[int]) -> jax.Array:
    """Nearest-neighbour resize of labels (N, *spatial) or targets (N, *spatial, C) to `spatial_shape`.

    Nearest neighbour keeps integer labels valid (no interpolated classes), as nnU-Net's order-0
    target downsampling does.
    """
    spatial_shape = tuple(spatial_shape)
    ndim_spatial = len(spatial_shape)
    if labels.shape[1:1 + ndim_spatial] == spatial_shape:
        return labels
    shape = (labels.shape[0], *spatial_shape, *labels.shape[1 + ndim_spatial:])
    return jax.image.resize(labels, shape, method="nearest")


def deep_supervision_loss(outputs: Sequence[jax.Array], labels: jax.Array,
                          loss_fn: Callable[[jax.Array, jax.Array], jax.Array]) -> jax.Array:
    """sum_i w_i loss_fn(outputs[i], labels downsampled to outputs[i]'s size), w from deep_supervision_weights.

    outputs: logits (N, *spatial_i, C), full resolution first. labels: (N, *spatial_0) integer or
    (N, *spatial_0, C) targets at the full resolution. Outputs of weight 0 are not evaluated.
    """
    weights = deep_supervision_weights(len(outputs))
    total = jnp.zeros((), jnp.float32)
    for weight, logits in zip(weights, outputs):
        if weight > 0:
            total = total + float(weight) * loss_fn(logits, downsample_labels(labels, logits.shape[1:-1]))
    return total
