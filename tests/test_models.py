import jax
import jax.numpy as jnp
import pytest

from jaxseg.config import load_config
from jaxseg.models import UNet, build_model, downsampling_factor
from jaxseg.train.state import parameter_count


def _conv(k, cin, cout, bias=True):
    return k * cin * cout + (cout if bias else 0)


def test_unet_parameter_count_by_hand():
    # features (4, 8), 2 convs per level, batch norm (scale+bias; convs without bias), 1 input, 3 classes, 2D.
    bn = lambda c: 2 * c  # noqa: E731
    expected = (
        _conv(9, 1, 4, False) + bn(4) + _conv(9, 4, 4, False) + bn(4)  # encoder level 0
        + _conv(9, 4, 8, False) + bn(8) + _conv(9, 8, 8, False) + bn(8)  # bottom
        + _conv(4, 8, 4)  # 2x2 transposed convolution
        + _conv(9, 8, 4, False) + bn(4) + _conv(9, 4, 4, False) + bn(4)  # decoder level 0 (after concat)
        + _conv(1, 4, 3)  # head
    )
    variables = jax.eval_shape(UNet(features=(4, 8), num_classes=3).init, jax.random.key(0), jnp.zeros((1, 8, 8, 1)))
    assert parameter_count(variables["params"]) == expected == 1687
    assert parameter_count(variables["batch_stats"]) == 2 * (4 + 4 + 8 + 8 + 4 + 4)


def test_demo_unet_parameter_count():
    model = build_model(load_config("demo").model)
    variables = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 64, 64, 1)))
    assert parameter_count(variables["params"]) == 482_517  # worked out level by level in test_unet_parameter_count_by_hand style


@pytest.mark.parametrize("shape", [(2, 16, 24, 1), (1, 8, 16, 8, 1)])
def test_unet_output_shape_in_2d_and_3d(shape):
    model = UNet(features=(4, 8, 16), num_classes=3)
    variables = jax.jit(model.init)(jax.random.key(0), jnp.zeros(shape))
    logits = jax.jit(model.apply)(variables, jnp.ones(shape))
    assert logits.shape == (*shape[:-1], 3) and logits.dtype == jnp.float32


def test_downsampling_factor():
    assert downsampling_factor(load_config("demo").model) == 8
