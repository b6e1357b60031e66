"""3D convolutions that XLA:CPU runs 3-5x faster: a sum of 2D convolutions over the depth taps.

XLA:CPU lowers a 3D convolution to Eigen's generic spatial convolution, which reached ~5 GFLOP/s
on this project's 2-core AVX2 machine (a 48^3 x 32 -> 32 channel 3x3x3 convolution) where its 2D
convolutions reach ~20 and PyTorch's oneDNN 3D convolution ~25; on a 3D U-Net's forward this form
ran 5x faster (benchmarks/cpu_flags.py). A kd x kh x kw kernel is a sum over its
kd depth taps of kh x kw kernels applied to depth-shifted input slices, so

    out[:, z] = sum_k conv2d(x_padded[:, z * stride + k * dilation], kernel[k])

with the depth folded into the batch of each 2D convolution. Same parameters, same result up to
float summation order (~1e-6 relative). `jax.lax.platform_dependent` picks this form only when the
computation is lowered for a CPU; GPUs and TPUs keep the native 3D convolution (cuDNN's is fast).
With several CPU devices (simulated meshes) the native convolution is kept too: XLA's partitioner
does not split the depth-tap form over a depth-sharded mesh. On CPU the form needs more temporary
memory (a 3-conv 3D chain's gradient: 10.4 MB against 7.1 MB), so CPU memory plans of 3D steps grow.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax import lax

_CHANNELS_LAST_3D = lax.ConvDimensionNumbers((0, 4, 1, 2, 3), (4, 3, 0, 1, 2), (0, 4, 1, 2, 3))


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
    """`lax.conv_general_dilated` with the same signature (Flax's `nn.Conv(conv_general_dilated=...)`);
    channels-last 3D convolutions without input dilation or feature groups take the depth-tap form
    on CPU. Everything else is passed to `lax.conv_general_dilated` unchanged."""
    def native(lhs, rhs):
        return lax.conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation,
                                        dimension_numbers, feature_group_count, precision=precision,
                                        preferred_element_type=preferred_element_type)

    numbers = lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers)
    # Several CPU devices (forced host devices) may form a mesh that splits the depth over devices,
    # and XLA does not partition the depth-tap form (each device would hold the whole volume).
    if (lhs.ndim != 5 or numbers != _CHANNELS_LAST_3D or feature_group_count != 1
            or any(d != 1 for d in (lhs_dilation or (1, 1, 1))) or len(jax.devices("cpu")) > 1):
        return native(lhs, rhs)
    dilation = tuple(rhs_dilation or (1, 1, 1))
    if isinstance(padding, str):
        window = [(k - 1) * d + 1 for k, d in zip(rhs.shape[:3], dilation)]
        padding = lax.padtype_to_pads(lhs.shape[1:4], window, window_strides, padding)
    pads = [tuple(p) for p in padding]

    def cpu(lhs, rhs):
        return _depth_tap_conv(lhs, rhs, tuple(window_strides), pads, dilation, precision, preferred_element_type)

    return lax.platform_dependent(lhs, rhs, cpu=cpu, default=native)
