"""jaxseg.models.cpu_conv: its CPU forms (depth taps, window matrix product) equal XLA's native convolution
(values and gradients)."""

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from jaxseg.models import cpu_conv
from jaxseg.models.layers import ConvSettings

NUMBERS = ("NDHWC", "DHWIO", "NDHWC")


def _arrays(shape, kernel):
    rng = np.random.default_rng(0)
    return (jnp.asarray(rng.standard_normal(shape), jnp.float32),
            jnp.asarray(rng.standard_normal(kernel) / np.sqrt(np.prod(kernel[:-1])), jnp.float32))


def _assert_matches_native(native, ours, x, w):
    """ours(x, w) equals native(x, w) in shape and values (1e-5), and so do the gradients of sum(out^2) (1e-4)."""
    expected, got = jax.jit(native)(x, w), jax.jit(ours)(x, w)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    grads = [jax.jit(jax.grad(lambda x, w, f=f: jnp.sum(f(x, w) ** 2), (0, 1)))(x, w) for f in (native, ours)]
    for g_native, g_ours in zip(*grads):
        np.testing.assert_allclose(g_ours, g_native, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kernel, strides, padding, dilation", [
    (3, (1, 1, 1), [(1, 1)] * 3, (1, 1, 1)),   # jaxseg's usual conv
    (3, (2, 2, 2), [(1, 1)] * 3, (1, 1, 1)),   # strided downsampling (seed 001 grid)
    (3, (1, 1, 1), [(2, 2)] * 3, (2, 2, 2)),   # dilated
    (2, (1, 1, 1), "SAME", (1, 1, 1)),         # even kernel, asymmetric "SAME" padding
    (3, (1, 2, 1), "VALID", (1, 1, 1)),        # valid padding, per-axis strides
    (1, (1, 1, 1), "SAME", (1, 1, 1)),         # 1x1x1 head
])
def test_depth_taps_equal_native_conv(kernel, strides, padding, dilation):
    x, w = _arrays((2, 7, 6, 5, 3), (kernel,) * 3 + (3, 4))

    def native(x, w):
        return lax.conv_general_dilated(x, w, strides, padding, rhs_dilation=dilation, dimension_numbers=NUMBERS)

    def taps(x, w):
        return cpu_conv.conv_general_dilated(x, w, strides, padding, rhs_dilation=dilation, dimension_numbers=NUMBERS)

    _assert_matches_native(native, taps, x, w)


@pytest.mark.parametrize("shape, kernel, strides, padding, dilation", [
    ((2, 2, 2, 8), 3, (1, 1), [(1, 1)] * 2, (1, 1)),          # a U-Net's deepest 2D level
    ((2, 1, 1, 8), 3, (1, 1), "SAME", (1, 1)),                # 1x1 map: only the centre tap sees data
    ((2, 3, 5, 8), 3, (2, 1), [(1, 1)] * 2, (1, 1)),          # input = kernel along one axis, strided
    ((2, 2, 4, 8), 2, (1, 1), "SAME", (1, 1)),                # even kernel, asymmetric padding
    ((2, 4, 4, 8), 3, (1, 1), [(2, 2)] * 2, (2, 2)),          # dilated: the 5x5 window covers the input
    ((2, 8, 8, 8), 3, (1, 1), [(1, 1)] * 2, (1, 1)),          # 64 positions
    ((2, 2, 6, 2, 8), 3, (1, 1, 1), [(1, 1)] * 3, (1, 1, 1)),  # 3D, small in two axes
    ((2, 5, 3, 4, 8), 3, (2, 2, 1), "VALID", (1, 1, 1)),      # 3D valid, strided
])
def test_window_matmul_equals_native_conv_on_inputs_no_larger_than_the_kernel(shape, kernel, strides, padding,
                                                                                dilation):
    rank = len(shape) - 2
    numbers = NUMBERS if rank == 3 else ("NHWC", "HWIO", "NHWC")
    x, w = _arrays(shape, (kernel,) * rank + (8, 5))

    def native(x, w):
        return lax.conv_general_dilated(x, w, strides, padding, rhs_dilation=dilation, dimension_numbers=numbers)

    def cpu(x, w):
        return cpu_conv.conv_general_dilated(x, w, strides, padding, rhs_dilation=dilation, dimension_numbers=numbers)

    hlo = jax.jit(cpu).lower(x, w).as_text()
    assert "stablehlo.convolution" not in hlo and "stablehlo.dot_general" in hlo
    _assert_matches_native(native, cpu, x, w)


def test_larger_2d_inputs_keep_the_native_convolution():
    x, w = _arrays((1, 9, 8, 2), (3, 3, 2, 2))  # 72 positions: above the matrix-product form's 64
    hlo = jax.jit(lambda x, w: cpu_conv.conv_general_dilated(x, w, (1, 1), "SAME",
                                                             dimension_numbers=("NHWC", "HWIO", "NHWC"))
                  ).lower(x, w).as_text()
    assert hlo.count("stablehlo.convolution") == 1


def test_cpu_lowering_has_no_3d_convolution():
    """On CPU the lowered program holds only 2D convolutions; 2D inputs pass through unchanged."""
    x, w = _arrays((1, 5, 4, 4, 2), (3, 3, 3, 2, 2))
    hlo = jax.jit(lambda x, w: cpu_conv.conv_general_dilated(x, w, (1, 1, 1), "SAME", dimension_numbers=NUMBERS)
                  ).lower(x, w).as_text()
    assert hlo.count("stablehlo.convolution") == 3
    assert "[b, 0, 1, f]" in hlo and "[b, 0, 1, 2, f]" not in hlo


def test_conv_settings_use_it_in_2d_and_3d():
    settings = ConvSettings()
    assert settings.conv(4, 3, 3).conv_general_dilated is cpu_conv.conv_general_dilated
    assert settings.conv(4, 3, 2).conv_general_dilated is cpu_conv.conv_general_dilated


def test_several_cpu_devices_keep_the_native_convolution():
    """A forced multi-device CPU (a simulated mesh may split the depth) lowers one 3D convolution."""
    code = ("import jax, jax.numpy as jnp; from jaxseg.models import cpu_conv; x = jnp.ones((1, 4, 4, 4, 2)); "
            "w = jnp.ones((3, 3, 3, 2, 2)); print(jax.jit(lambda x, w: cpu_conv.conv_general_dilated(x, w, (1, 1, 1), "
            "'SAME', dimension_numbers=('NDHWC', 'DHWIO', 'NDHWC'))).lower(x, w).as_text()"
            ".count('stablehlo.convolution'))")
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.stdout.strip() == "1", done.stderr


@pytest.mark.parametrize("shape", [(2, 3, 5, 4), (2, 3, 2, 4, 4)])
def test_doubling_conv_transpose_equals_xla(shape):
    rank = len(shape) - 2
    numbers = NUMBERS if rank == 3 else ("NHWC", "HWIO", "NHWC")
    x, w = _arrays(shape, (2,) * rank + (4, 3))

    def native(x, w):
        return lax.conv_transpose(x, w, (2,) * rank, "VALID", dimension_numbers=numbers)

    hlo = jax.jit(cpu_conv.conv_transpose_doubling).lower(x, w).as_text()
    assert "stablehlo.convolution" not in hlo
    assert jax.jit(native)(x, w).shape == (shape[0], *(2 * n for n in shape[1:-1]), 3)
    _assert_matches_native(native, cpu_conv.conv_transpose_doubling, x, w)


@pytest.mark.parametrize("kernel, padding", [(2, "VALID"), (3, "SAME")])
def test_conv_transpose_layer_keeps_flax_parameters_and_values(kernel, padding):
    """jaxseg's ConvTranspose: Flax's parameter tree and outputs, whichever form computes them."""
    import flax.linen as nn

    from jaxseg.models.layers import ConvTranspose

    x = _arrays((2, 3, 4, 2, 3), (1,))[0]
    flax_layer = nn.ConvTranspose(5, (kernel,) * 3, strides=(2,) * 3, padding=padding)
    ours = ConvTranspose(5, (kernel,) * 3, strides=(2,) * 3, padding=padding)
    variables = flax_layer.init(jax.random.key(0), x)
    assert jax.tree.map(jnp.shape, ours.init(jax.random.key(0), x)) == jax.tree.map(jnp.shape, variables)
    np.testing.assert_allclose(ours.apply(variables, x), flax_layer.apply(variables, x), rtol=1e-5, atol=1e-5)
