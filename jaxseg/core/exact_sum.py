"""Cross-device sums whose result does not depend on the order of addition, hence on the process layout.

A float32 all-reduce adds the devices' values in an order that its implementation picks (in-process
CPU collectives, gloo's ring, NCCL's tree), so 2 processes x 2 devices and 1 process x 4 devices round
differently, and Adam amplifies the last bits into visibly different parameters after a few steps.
`exact_psum` adds integers instead, which is associative: every float32 value becomes a 2-limb
fixed-point number on a grid shared by all devices (set by the exact maximum magnitude over the
devices, per array), the limbs are summed as int32 all-reduces, and the result goes back to float32
by one deterministic conversion. Values are kept to 2^(2h - 60) of the array's largest magnitude
(h = ceil(log2(devices)): 56 bits on 4 devices, against float32's 24), so the sum is at least as
accurate as a float32 all-reduce for every element larger than 2^-32 of the largest.

All functions here run inside `jax.shard_map` over the named axis.
"""

from __future__ import annotations

import contextlib
import contextvars
import math

import jax
import jax.numpy as jnp
from jax import lax

_ACTIVE_AXIS: contextvars.ContextVar[str | None] = contextvars.ContextVar("exact_sum_axis", default=None)


@contextlib.contextmanager
def summing_across(axis_name: str):
    """While tracing inside `shard_map` over `axis_name`: `active_axis()` names it, so that layers whose
    statistics span the batch (jaxseg's BatchNorm) reduce across devices with `exact_psum`."""
    token = _ACTIVE_AXIS.set(axis_name)
    try:
        yield
    finally:
        _ACTIVE_AXIS.reset(token)


def active_axis() -> str | None:
    """The device axis of the enclosing `summing_across`, or None (one program over global arrays)."""
    return _ACTIVE_AXIS.get()


def _power_of_two(exponent: jax.Array) -> jax.Array:
    """2.0 ** exponent as float32, exactly, for integer exponents in [-126, 127] (built from its bits)."""
    return lax.bitcast_convert_type((exponent + 127).astype(jnp.int32) << 23, jnp.float32)


def _scale(x: jax.Array, exponent: jax.Array) -> jax.Array:
    """x * 2^exponent in two exact power-of-two factors, so neither factor overflows for |exponent| <= 250."""
    half = exponent // 2
    return x * _power_of_two(half) * _power_of_two(exponent - half)


def exact_psum(tree, axis_name: str):
    """The sum over `axis_name` of every float leaf of `tree`, independent of the order of addition:
    bitwise the same for any assignment of the values to devices. A leaf with a non-finite value on
    any device sums to NaN."""
    leaves, treedef = jax.tree.flatten(tree)
    devices = lax.axis_size(axis_name)
    headroom = max(1, math.ceil(math.log2(devices)))
    limb_bits = 30 - headroom  # n values below 2^limb_bits each sum below 2^30: no int32 overflow.
    # The grid of each leaf: |x| <= max < 2^exponent on every device.
    maxima = lax.pmax(jnp.stack([jnp.max(jnp.abs(x.astype(jnp.float32))) for x in leaves]), axis_name)
    exponents = jnp.frexp(maxima)[1]
    his, los = [], []
    for x, exponent in zip(leaves, exponents):
        scaled = _scale(x.astype(jnp.float32), limb_bits - exponent)  # |scaled| < 2^limb_bits, exact
        high = jnp.trunc(scaled)  # Toward zero, so that `scaled - high` is exact (floor(-1e-6) would not be).
        his.append(high.astype(jnp.int32))
        los.append(jnp.round(_scale(scaled - high, jnp.int32(limb_bits))).astype(jnp.int32))  # |.| <= 2^limb_bits
    his, los = lax.psum((his, los), axis_name)
    out = []
    for x, high, low, exponent, largest in zip(leaves, his, los, exponents, maxima):
        high = high + (low >> limb_bits)  # Carry (arithmetic shift: floor), leaving low in [0, 2^limb_bits).
        low = low & ((1 << limb_bits) - 1)
        total = high.astype(jnp.float32) + _scale(low.astype(jnp.float32), jnp.int32(-limb_bits))
        total = _scale(total, exponent - limb_bits)
        out.append(jnp.where(jnp.isfinite(largest), total, jnp.nan).astype(x.dtype))
    return jax.tree.unflatten(treedef, out)


def _psum_forward(tree, axis_name):
    return exact_psum(tree, axis_name), None


def _psum_backward(axis_name, _, cotangent):
    # Each device's cotangent holds what its own samples contribute; the sum's cotangent is their sum.
    return (exact_psum(cotangent, axis_name),)


_differentiable_psum = jax.custom_vjp(exact_psum, nondiff_argnums=(1,))
_differentiable_psum.defvjp(_psum_forward, _psum_backward)


def exact_pmean(tree, axis_name: str):
    """`exact_psum` / devices, differentiable (its cotangent is summed across devices the same exact way)."""
    devices = lax.axis_size(axis_name)
    return jax.tree.map(lambda s: s / devices, _differentiable_psum(tree, axis_name))


def _gather(x, axis_name):
    return lax.all_gather(x, axis_name, tiled=True)


def _gather_forward(x, axis_name):
    return _gather(x, axis_name), x.shape[0]


def _gather_backward(axis_name, rows, cotangent):
    # Every device computed the same function of the gathered batch, so the cotangent of its own rows
    # is already whole: no cross-device sum (and no rounding) in the backward pass.
    return (lax.dynamic_slice_in_dim(cotangent, lax.axis_index(axis_name) * rows, rows),)


gather_batch = jax.custom_vjp(_gather, nondiff_argnums=(1,))
gather_batch.defvjp(_gather_forward, _gather_backward)
gather_batch.__doc__ = """(b, ...) rows of each device -> (devices * b, ...) in device order on every device, exact.
Its derivative assumes that every device applies the same function to the gathered batch."""
