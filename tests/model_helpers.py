"""Variables for model tests without running the models' random initialisers.

XLA on a CPU compiles threefry random initialisers slowly (seconds per kernel shape), so the tests take
the variables' shapes from `jax.eval_shape(model.init, ...)` and fill them on the host.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np


def count(tree) -> int:
    return sum(int(x.size) for x in jax.tree.leaves(tree))


def variable_shapes(model: nn.Module, shape: tuple[int, ...]) -> dict:
    """The abstract params and batch_stats of `model` for float32 inputs of `shape` (N, *spatial, C)."""
    variables = jax.eval_shape(lambda x: model.init(jax.random.key(0), x), jax.ShapeDtypeStruct(shape, jnp.float32))
    return {k: v for k, v in variables.items() if k in ("params", "batch_stats")}


def _fill(model: nn.Module, shape: tuple[int, ...], kernel) -> dict:
    def leaf(path, x):
        name = path[-1].key
        if name in ("bias", "mean"):
            return np.zeros(x.shape, x.dtype)
        if name in ("scale", "var"):
            return np.ones(x.shape, x.dtype)
        if name == "negative_slope":
            return np.full(x.shape, 0.25, x.dtype)
        return kernel(x).astype(x.dtype)

    return jax.tree_util.tree_map_with_path(leaf, variable_shapes(model, shape))


def random_variables(model: nn.Module, shape: tuple[int, ...], seed: int = 0) -> dict:
    """He-normal kernels from NumPy, zero biases, unit scales, running statistics 0 and 1."""
    rng = np.random.default_rng(seed)
    return _fill(model, shape, lambda x: rng.normal(0.0, np.sqrt(2.0 / np.prod(x.shape[:-1])), x.shape))


def positive_variables(model: nn.Module, shape: tuple[int, ...]) -> dict:
    """Every kernel weight 1 / fan-in and every bias 0: an input that is zero but for one positive pixel
    then gives outputs that are nonzero exactly where that pixel has influence (max-pools included)."""
    return _fill(model, shape, lambda x: np.full(x.shape, 1.0 / np.prod(x.shape[:-1])))


def measured_receptive_field(model: nn.Module, multiple: int, rank: int = 2, length: int = 128) -> int:
    """The widest input span, along the first spatial axis, that one output pixel near the centre depends
    on: `length` deltas at every position of a (length, multiple, ...) input, one per batch element."""
    other = max(multiple, 2)
    shape = (length, *(other,) * (rank - 1), 1)
    variables = positive_variables(model, (1, *shape))
    centre = (other // 2,) * (rank - 1)
    x = np.zeros((length, *shape), np.float32)
    for p in range(length):
        x[(p, p, *centre, 0)] = 1.0
    out = np.asarray(jax.jit(model.apply)(variables, x))
    depends = np.abs(out[(slice(None), slice(None), *centre)]).sum(-1) > 0  # (input position, output position)
    middle = range(length // 2 - multiple, length // 2 + multiple)
    spans = [np.flatnonzero(depends[:, o]) for o in middle]
    return max(int(s.max() - s.min() + 1) for s in spans)
