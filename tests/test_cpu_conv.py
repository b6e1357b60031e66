"""jaxseg.models.cpu_conv: the depth-tap 3D convolution equals XLA's native one (values and gradients)."""

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

    expected, got = jax.jit(native)(x, w), jax.jit(taps)(x, w)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    grads = [jax.jit(jax.grad(lambda x, w, f=f: jnp.sum(f(x, w) ** 2), (0, 1)))(x, w) for f in (native, taps)]
    for g_native, g_taps in zip(*grads):
        np.testing.assert_allclose(g_taps, g_native, rtol=1e-4, atol=1e-4)


def test_cpu_lowering_has_no_3d_convolution():
    """On CPU the lowered program holds only 2D convolutions; 2D inputs pass through unchanged."""
    x, w = _arrays((1, 4, 4, 4, 2), (3, 3, 3, 2, 2))
    hlo = jax.jit(lambda x, w: cpu_conv.conv_general_dilated(x, w, (1, 1, 1), "SAME", dimension_numbers=NUMBERS)
                  ).lower(x, w).as_text()
    assert hlo.count("stablehlo.convolution") == 3
    assert "[b, 0, 1, f]" in hlo and "[b, 0, 1, 2, f]" not in hlo


def test_conv_settings_use_it_for_3d_only():
    settings = ConvSettings()
    assert settings.conv(4, 3, 3).conv_general_dilated is cpu_conv.conv_general_dilated
    assert settings.conv(4, 3, 2).conv_general_dilated is None


def test_several_cpu_devices_keep_the_native_convolution():
    """A forced multi-device CPU (a simulated mesh may split the depth) lowers one 3D convolution."""
    code = ("import jax, jax.numpy as jnp; from jaxseg.models import cpu_conv; x = jnp.ones((1, 4, 4, 4, 2)); "
            "w = jnp.ones((3, 3, 3, 2, 2)); print(jax.jit(lambda x, w: cpu_conv.conv_general_dilated(x, w, (1, 1, 1), "
            "'SAME', dimension_numbers=('NDHWC', 'DHWIO', 'NDHWC'))).lower(x, w).as_text()"
            ".count('stablehlo.convolution'))")
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.stdout.strip() == "1", done.stderr
