"""Shared helpers: logits -> probabilities, labels -> per-channel targets (channels-last)."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def probabilities(logits: jax.Array, activation: str) -> jax.Array:
    """(N, *spatial, C) logits -> probabilities by `softmax` over C or an independent `sigmoid`."""
    logits = logits.astype(jnp.float32)
    if activation == "softmax":
        return jax.nn.softmax(logits, axis=-1)
    if activation == "sigmoid":
        return jax.nn.sigmoid(logits)
    raise ValueError(f"activation must be 'softmax' or 'sigmoid', got '{activation}'")


def channel_targets(labels: jax.Array, logits: jax.Array) -> jax.Array:
    """Targets with the logits' shape (N, *spatial, C), float32.

    labels: integer class indices (N, *spatial), one-hot for C > 1 and the binary mask itself for
    C == 1; or already per-channel (one-hot, soft or multilabel) targets of shape (N, *spatial, C).
    """
    num_classes = logits.shape[-1]
    if labels.ndim == logits.ndim:
        if labels.shape != logits.shape:
            raise ValueError(f"targets of shape {labels.shape} do not match logits of shape {logits.shape}")
        return labels.astype(jnp.float32)
    if labels.ndim != logits.ndim - 1 or labels.shape != logits.shape[:-1]:
        raise ValueError(f"labels of shape {labels.shape} fit neither {logits.shape[:-1]} nor {logits.shape}")
    if num_classes == 1:
        return labels[..., None].astype(jnp.float32)
    return jax.nn.one_hot(labels, num_classes, dtype=jnp.float32)


def reduce_axes(ndim: int, batch: bool) -> tuple[int, ...]:
    """Axes summed per class: the spatial axes, and the batch axis too when `batch`."""
    return tuple(range(0 if batch else 1, ndim - 1))
