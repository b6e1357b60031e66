"""Building blocks shared by jaxseg's networks: normalisation and activation by name."""

from __future__ import annotations

from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp


def activation(name: str) -> Callable[[jax.Array], jax.Array]:
    """An activation function by name: relu | leaky_relu (slope 0.01, as nnU-Net) | prelu (learned)."""
    if name == "relu":
        return nn.relu
    if name == "leaky_relu":
        return lambda x: nn.leaky_relu(x, negative_slope=0.01)
    if name == "prelu":
        return nn.PReLU()
    raise ValueError(f"unknown activation '{name}'")


def normalization(name: str, train: bool, dtype: jnp.dtype) -> Callable[[jax.Array], jax.Array]:
    """A normalisation layer by name: batch | instance | group (8 groups) | none.

    Batch norm uses running statistics when `train` is False; its statistics live in the
    `batch_stats` collection and are averaged over the data axis by the train step's sharding.
    """
    if name == "batch":
        return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, dtype=dtype)
    if name == "instance":
        return nn.InstanceNorm(epsilon=1e-5, dtype=dtype)
    if name == "group":
        return nn.GroupNorm(num_groups=8, epsilon=1e-5, dtype=dtype)
    if name == "none":
        return lambda x: x
    raise ValueError(f"unknown normalization '{name}'")
