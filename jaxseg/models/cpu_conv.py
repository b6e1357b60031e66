"""Convolutions in the forms XLA:CPU runs fast: chosen only when lowering for a CPU.

Three kinds of convolution are slow in XLA:CPU's own lowering (Eigen's spatial convolution), on
this project's 2-core AVX2 machine (`benchmarks/cpu_flags.py`, `benchmarks/conv_shapes.py`):

- Small inputs (a U-Net's deepest levels): an input no larger than its kernel along an axis (3x3
  on 2x2 or 1x1 maps) falls off a cliff, 6-40x slower than the same arithmetic as one matrix
  product (4 x 2x2x512, 3x3: 48 ms against 1.3 ms; PyTorch's oneDNN: 3.5 ms), and up to 64
  positions (8x8, 4x4x4) the matrix product still wins (4 x 4x4x1024: 39 ms against 10 ms). Such
  convolutions are computed as one matrix product of the kernel's shifted input windows
  ("im2col"), in 2D and 3D; from 16x16 or 8x8x8 on, XLA's own (2D) or the depth-tap form (3D) is
  as fast or faster.
- 3D convolutions: ~5 GFLOP/s (a 48^3 x 32 -> 32 channel 3x3x3 convolution) where XLA's 2D
  convolutions reach ~20 and PyTorch's oneDNN 3D convolution ~25. A kd x kh x kw kernel is a sum
  over its kd depth taps of kh x kw kernels applied to depth-shifted input slices, so

      out[:, z] = sum_k conv2d(x_padded[:, z * stride + k * dilation], kernel[k])

  with the depth folded into the batch of each 2D convolution: a 3D U-Net's forward ran 5x faster.
- Transposed convolutions (a U-Net's upsampling), which XLA computes on the zero-dilated input:
  the kernel-2, stride-2 one that doubles every size ran 45-90x slower in 3D (2 x 32^3 x 32 -> 16:
  1.17 s against 26 ms) and 2-4x in 2D than the same arithmetic as one matrix product: its
  windows do not overlap (output voxel 2i + a is input voxel i times kernel tap 1 - a), so it is
  computed as a 1x1 convolution to 2^rank x F channels and an interleaving reshape
  (`conv_transpose_doubling`).

Same parameters, same result up to float summation order (~1e-6 relative).
`jax.lax.platform_dependent` picks these forms only when the computation is lowered for a CPU;
GPUs and TPUs keep the native operations (cuDNN's convolutions are fast; whether the transposed
form would help there too, as jax issue 31662 suggests for 3D gradients, is not measured). With
several CPU devices (simulated meshes) the native operations are kept too: XLA's partitioner does
not split these forms over a spatially sharded mesh. On CPU the depth-tap form needs more
temporary memory (a 3-conv 3D chain's gradient: 10.4 MB against 7.1 MB), so CPU memory plans of
3D steps grow.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax import lax

# Input positions (H * W or D * H * W) up to which the window matrix product beats the other forms.
_SMALL_INPUT = 64
_CHANNELS_LAST = {4: lax.ConvDimensionNumbers((0, 3, 1, 2), (3, 2, 0, 1), (0, 3, 1, 2)),
                  5: lax.ConvDimensionNumbers((0, 4, 1, 2, 3), (4, 3, 0, 1, 2), (0, 4, 1, 2, 3))}


def _window_matmul_conv(x: jax.Array, kernel: jax.Array, strides: Sequence[int], pads: Sequence[tuple[int, int]],
                        dilation: Sequence[int], precision, preferred_element_type) -> jax.Array:
    """x (N, *S, C), kernel (*K, C, F) -> (N, *S', F) as one matrix product: the input windows of
    every kernel tap side by side (N, *S', prod(K) * C) times the kernel as (prod(K) * C, F)."""
    spatial, taps = x.shape[1:-1], kernel.shape[:-2]
    x = jnp.pad(x, ((0, 0), *pads, (0, 0)))
    out = [(n + lo + hi - d * (k - 1) - 1) // s + 1
           for n, (lo, hi), k, s, d in zip(spatial, pads, taps, strides, dilation)]
    windows = []
    for tap in itertools.product(*(range(k) for k in taps)):  # Row-major, as the kernel's reshape below.
        first = [t * d for t, d in zip(tap, dilation)]
        last = [f + (o - 1) * s + 1 for f, o, s in zip(first, out, strides)]
        windows.append(lax.slice(x, (0, *first, 0), (x.shape[0], *last, x.shape[-1]), (1, *strides, 1)))
    stacked = jnp.concatenate(windows, axis=-1)
    return lax.dot_general(stacked, kernel.reshape(-1, kernel.shape[-1]), (((stacked.ndim - 1,), (0,)), ((), ())),
                           precision=precision, preferred_element_type=preferred_element_type)


def _depth_tap_conv(x: jax.Array, kernel: jax.Array, strides: Sequence[int], pads: Sequence[tuple[int, int]],
                    dilation: Sequence[int], precision, preferred_element_type) -> jax.Array:
    """x (N, D, H, W, C), kernel (kd, kh, kw, C, F) -> (N, D', H', W', F) as kd 2D convolutions."""
    n, depth = x.shape[:2]
    kd = kernel.shape[0]
    x = jnp.pad(x, ((0, 0), pads[0], (0, 0), (0, 0), (0, 0)))
    out_depth = (depth + sum(pads[0]) - dilation[0] * (kd - 1) - 1) // strides[0] + 1
    total = None
    for k in range(kd):
        start = k * dilation[0]
        taps = lax.slice_in_dim(x, start, start + (out_depth - 1) * strides[0] + 1, strides[0], axis=1)
        y = lax.conv_general_dilated(taps.reshape(n * out_depth, *taps.shape[2:]), kernel[k], strides[1:], pads[1:],
                                     rhs_dilation=dilation[1:], dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                     precision=precision, preferred_element_type=preferred_element_type)
        total = y if total is None else total + y
    return total.reshape(n, out_depth, *total.shape[1:])


def conv_general_dilated(lhs: jax.Array, rhs: jax.Array, window_strides: Sequence[int], padding,
                         lhs_dilation: Sequence[int] | None = None, rhs_dilation: Sequence[int] | None = None,
                         dimension_numbers=None, feature_group_count: int = 1, precision=None,
                         preferred_element_type=None) -> jax.Array:
    """`lax.conv_general_dilated` with the same signature (Flax's `nn.Conv(conv_general_dilated=...)`).
    On CPU, channels-last 2D and 3D convolutions without input dilation or feature groups take the
    window-matrix-product form on small inputs (up to 64 positions, or no larger than the kernel along
    some axis), else (3D) the depth-tap form. Everything else is passed to `lax.conv_general_dilated`
    unchanged."""
    def native(lhs, rhs):
        return lax.conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation,
                                        dimension_numbers, feature_group_count, precision=precision,
                                        preferred_element_type=preferred_element_type)

    numbers = lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers)
    # Several CPU devices (forced host devices) may form a mesh that splits spatial axes over devices,
    # and XLA does not partition these forms (each device would hold the whole volume).
    if (numbers != _CHANNELS_LAST.get(lhs.ndim) or feature_group_count != 1
            or any(d != 1 for d in (lhs_dilation or (1, 1, 1))) or len(jax.devices("cpu")) > 1):
        return native(lhs, rhs)
    rank = lhs.ndim - 2
    dilation = tuple(rhs_dilation or (1,) * rank)
    window = [(k - 1) * d + 1 for k, d in zip(rhs.shape[:rank], dilation)]
    if isinstance(padding, str):
        padding = lax.padtype_to_pads(lhs.shape[1:-1], window, window_strides, padding)
    pads = [tuple(p) for p in padding]
    spatial = lhs.shape[1:-1]
    known = all(isinstance(n, int) for n in spatial)  # Exported models have symbolic sizes: no size rule.
    if known and math.prod(window) > 1 and (math.prod(spatial) <= _SMALL_INPUT
                                            or any(n <= w for n, w in zip(spatial, window))):
        form = _window_matmul_conv
    elif rank == 3:
        form = _depth_tap_conv
    else:
        return native(lhs, rhs)

    def cpu(lhs, rhs):
        return form(lhs, rhs, tuple(window_strides), pads, dilation, precision, preferred_element_type)

    return lax.platform_dependent(lhs, rhs, cpu=cpu, default=native)


def _interleaved_matmul(x: jax.Array, kernel: jax.Array, precision, preferred_element_type) -> jax.Array:
    """x (N, *S, C), kernel (2, ..., 2, C, F) -> (N, *2S, F): output voxel 2i + a is x[i] @ kernel[1 - a]."""
    rank, (channels, features) = x.ndim - 2, kernel.shape[-2:]
    taps = jnp.flip(kernel, tuple(range(rank))).reshape(-1, channels, features)  # taps a, row-major
    y = lax.dot_general(x, jnp.moveaxis(taps, 0, 1).reshape(channels, -1), (((rank + 1,), (0,)), ((), ())),
                        precision=precision, preferred_element_type=preferred_element_type)
    y = y.reshape(*x.shape[:-1], *(2,) * rank, features)
    # (N, S1.., a1.., F) -> (N, S1, a1, S2, a2, .., F): each output axis is (input index, phase).
    order = [0, *(axis for i in range(rank) for axis in (1 + i, 1 + rank + i)), 1 + 2 * rank]
    return y.transpose(order).reshape(x.shape[0], *(2 * n for n in x.shape[1:-1]), features)


def conv_transpose_doubling(x: jax.Array, kernel: jax.Array, precision=None,
                            preferred_element_type=None) -> jax.Array:
    """`lax.conv_transpose(x, kernel, (2,) * rank, "VALID")` of channels-last x (N, *S, C) and a
    kernel (2, ..., 2, C, F) (Flax's `nn.ConvTranspose` layout): (N, *2S, F). On a single CPU device
    as one matrix product and an interleaving reshape (see the module docstring)."""
    rank = x.ndim - 2
    numbers = ("NHWC", "HWIO", "NHWC") if rank == 2 else ("NDHWC", "DHWIO", "NDHWC")

    def native(x, kernel):
        return lax.conv_transpose(x, kernel, (2,) * rank, "VALID", dimension_numbers=numbers, precision=precision,
                                  preferred_element_type=preferred_element_type)

    if len(jax.devices("cpu")) > 1:  # As above: keep what XLA partitions over a spatially sharded mesh.
        return native(x, kernel)

    def cpu(x, kernel):
        return _interleaved_matmul(x, kernel, precision, preferred_element_type)

    return lax.platform_dependent(x, kernel, cpu=cpu, default=native)
