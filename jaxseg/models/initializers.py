"""Convolution kernel initialisers equal to Flax's, bit for bit, that compile once per size bucket.

Why: outside `jit`, each of Flax's initialisers compiles one random-number program per kernel shape,
and on a CPU each such program takes about 0.4 s to compile: initialising a seed U-Net took 20-30 s,
mostly compiling. JAX's threefry generator (partitionable layout, JAX's default) gives element i of a
draw the counter i, so the first N values of a flat draw of 2^k >= N values are, bit for bit, the N
values of a draw of any shape holding N elements (in row-major order). These initialisers draw flat
power-of-two buffers (one compiled program per bucket, shared by every layer and model in the
process), take the first N values and scale them on the host as Flax does. Under tracing (`jit`,
`eval_shape`) there is nothing to save: they call Flax's initialiser itself.

tests/test_models.py (test_bucketed_initialisers_equal_flax_bit_for_bit) checks the values against
Flax's for every kind.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import flax.linen as nn
import jax
import numpy as np

# Standard deviation of a standard normal truncated to (-2, 2) (jax.nn.initializers.variance_scaling).
_TRUNCATED_STDDEV = 0.87962566103423978
_SMALLEST_BUCKET = 1024
INITIALIZERS = ("lecun", "xavier", "normal", "he")


@functools.partial(jax.jit, static_argnames=("distribution", "size"))
def _flat_draw(key: jax.Array, distribution: str, size: int) -> jax.Array:
    """(size,) float32 values of `distribution` as jax.nn.initializers.variance_scaling draws them."""
    if distribution == "truncated_normal":
        return jax.random.truncated_normal(key, -2, 2, (size,), np.float32)
    if distribution == "uniform":
        return jax.random.uniform(key, (size,), np.float32, -1)
    return jax.random.normal(key, (size,), np.float32)


def _bucketed(flax_init: Callable, distribution: str, scale_of: Callable[[tuple[int, ...]], np.float32]) -> Callable:
    """An initialiser returning `flax_init`'s values: a bucketed flat draw times `scale_of(shape)`."""

    def init(key: jax.Array, shape: tuple[int, ...], dtype=np.float32) -> jax.Array:
        shape = tuple(shape)
        if (isinstance(key, jax.core.Tracer) or np.dtype(dtype) != np.float32
                or not jax.config.jax_threefry_partitionable):
            return flax_init(key, shape, dtype)
        size = math.prod(shape)
        flat = np.asarray(_flat_draw(key, distribution, max(_SMALLEST_BUCKET, 1 << (size - 1).bit_length())))
        return jax.numpy.asarray(flat[:size].reshape(shape) * scale_of(shape))

    return init


def _fans(shape: tuple[int, ...]) -> tuple[float, float]:
    """Fan-in and fan-out of a kernel (..., in, out), as jax.nn.initializers computes them."""
    receptive = math.prod(shape) / shape[-2] / shape[-1]
    return shape[-2] * receptive, shape[-1] * receptive


def _variance(scale: float, mode: str, shape: tuple[int, ...]) -> np.float32:
    fan_in, fan_out = _fans(shape)
    return np.float32(scale / (fan_in if mode == "fan_in" else (fan_in + fan_out) / 2))


def _scaled_truncated_normal(scale: float) -> Callable:
    """variance_scaling(scale, "fan_in", "truncated_normal")."""
    return lambda shape: np.sqrt(_variance(scale, "fan_in", shape)) / np.float32(_TRUNCATED_STDDEV)


def kernel_initializer(name: str) -> nn.initializers.Initializer:
    """lecun (Flax's default, truncated normal) | xavier (Glorot uniform) | normal (N(0, 0.01), seed 001)
    | he (truncated normal)."""
    if name == "lecun":
        return _bucketed(nn.initializers.lecun_normal(), "truncated_normal", _scaled_truncated_normal(1.0))
    if name == "xavier":
        return _bucketed(nn.initializers.xavier_uniform(), "uniform",
                         lambda shape: np.sqrt(np.float32(3) * _variance(1.0, "fan_avg", shape)))
    if name == "normal":
        return _bucketed(nn.initializers.normal(stddev=0.01), "normal", lambda shape: np.float32(0.01))
    if name == "he":
        return _bucketed(nn.initializers.he_normal(), "truncated_normal", _scaled_truncated_normal(2.0))
    raise ValueError(f"unknown initializer '{name}': expected one of {', '.join(INITIALIZERS)}")
