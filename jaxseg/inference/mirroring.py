"""Test-time augmentation by mirroring: the average prediction over every combination of flips."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp


def mirror_averaged(fn: Callable[[jax.Array], jax.Array], axes: Sequence[int]) -> Callable[[jax.Array], jax.Array]:
    """fn'(x) = mean over all subsets S of `axes` of flip_S(fn(flip_S(x))), as nnU-Net's mirroring.

    fn maps (N, *spatial, C_in) -> (N, *spatial, C_out) (probabilities, so the mean stays one);
    axes are spatial axis indices counted from 0 for the first spatial axis. 2^len(axes) passes.
    """
    array_axes = [a + 1 for a in axes]

    def averaged(x: jax.Array) -> jax.Array:
        total = None
        subsets = [s for r in range(len(array_axes) + 1) for s in itertools.combinations(array_axes, r)]
        for subset in subsets:
            y = fn(jnp.flip(x, subset) if subset else x)
            y = jnp.flip(y, subset) if subset else y
            total = y if total is None else total + y
        return total / len(subsets)

    return averaged
