"""Every preset against the numbers of its seed (or worked out by hand), shapes and receptive fields."""

import jax
import jax.numpy as jnp
import pytest

from jaxseg.models import PRESETS, UNet, build_preset, receptive_field
from tests.model_helpers import count, measured_receptive_field, variable_shapes


def _counts(name, input_shape=None, **options):
    shape = (1, *(input_shape or PRESETS[name].input_shape))
    variables = variable_shapes(build_preset(name, **options), shape)
    return count(variables["params"]), count(variables.get("batch_stats", {}))


def _conv(k, cin, cout, bias=True):
    return k * cin * cout + (cout if bias else 0)


@pytest.mark.parametrize("name, input_shape, params, batch_stats", [
    ("ronneberger2015", None, 31_030_658, 0),  # Seed 003 (derived from the paper's settings).
    ("pig_ct_2d", None, 81_831_025, 36_480),  # Seed 000: 81,867,505 in all.
    ("pig_ct_3d", (32, 32, 32, 1), 15_316_369, 8_832),  # Seed 000 [derived] for widths 16-256.
    ("kayalibay_concat", (16, 16, 16, 4), 410_072, 944),  # Seed 001 [calc], BRATS (4 inputs).
    ("kayalibay_concat", (16, 16, 16, 1), 409_424, 944),  # Hand MRI (1 input).
    ("kayalibay_sum", (16, 16, 16, 4), 337_496, 944),
    ("kayalibay_sum", (16, 16, 16, 1), 336_848, 944),
    ("plain_rf7", None, 1_257, 0),  # Seed 003: 80 + 584 + 584 + 9.
    ("dilated_rf15", None, 1_257, 0),
    # Ciresan et al.: 4x4x1x48, 5x5x48x48, 4x4x48x48 twice, FC 3x3x48 -> 200 -> 2, with biases.
    ("ciresan2012", None, _conv(16, 1, 48) + _conv(25, 48, 48) + 2 * _conv(16, 48, 48) + _conv(9, 48, 200)
     + _conv(1, 200, 2), 0),
])
def test_preset_parameter_counts_match_the_seeds(name, input_shape, params, batch_stats):
    assert _counts(name, input_shape) == (params, batch_stats)


def test_unet2d_sigmoid_is_the_original_unet_with_batch_norm_and_one_output():
    # Same padding does not change parameters. Batch norm replaces the biases of the 18 level convs
    # (their widths sum to 2 * 1984 + 2 * 960 = 5888) by a scale and an offset; the head loses a class.
    level_widths = 2 * (64 + 128 + 256 + 512 + 1024) + 2 * (512 + 256 + 128 + 64)
    expected = 31_030_658 - level_widths + 2 * level_widths - (64 + 1)
    assert _counts("unet2d_sigmoid", (64, 64, 1)) == (expected, 2 * level_widths) == (31_036_481, 11_776)


def test_propagation_unet_has_two_inputs_biases_and_batch_norm():
    level_widths = 5888  # As above; here the convolutions keep their biases (zero-initialised).
    assert _counts("propagation_unet", (64, 64, 2)) == (31_030_658 + 2 * level_widths + 9 * 64, 2 * level_widths)
    params = {depth: _counts("propagation_unet", (64, 64, 2), depth=depth)[0] for depth in (2, 3, 4, 5)}
    assert params[2] < params[3] < params[4] < params[5]


def test_propagation_resstrided_by_hand():
    # Per level: an entry conv (strided below level 0) and one residual unit (2 convs, 3 batch norms).
    def level(cin, w):
        return _conv(9, cin, w) + 2 * _conv(9, w, w) + 3 * 2 * w

    widths = [64, 128, 256, 512, 1024]
    expected = level(2, 64) + sum(level(a, b) for a, b in zip(widths, widths[1:]))
    expected += sum(_conv(4, b, a) + level(2 * a, a) for a, b in zip(widths, widths[1:]))  # up + decoder
    expected += _conv(1, 64, 2)
    assert _counts("propagation_resstrided", (64, 64, 2))[0] == expected


def test_nnunet_presets_by_hand():
    # Two conv-instance norm-leaky ReLU per stage (the first strided below stage 0), biases on, kernel-2
    # upsampling convs (3D: after a nearest resize, 2D: transposed), 1x1 heads on every decoder stage
    # (deep supervision).
    def expected(widths, rank, classes=2):
        k, up = 3**rank, 2**rank
        stage = lambda cin, w: _conv(k, cin, w) + _conv(k, w, w) + 2 * 2 * w  # noqa: E731
        total = stage(1, widths[0]) + sum(stage(a, b) for a, b in zip(widths, widths[1:]))
        total += sum(_conv(up, b, a) + stage(2 * a, a) for a, b in zip(widths, widths[1:]))
        return total + sum(_conv(1, w, classes) for w in widths[:-1])

    widths_3d = (32, 64, 128, 256, 320, 320)
    widths_2d = (32, 64, 128, 256, 512, 512, 512, 512)
    assert build_preset("nnunet_3d").features == widths_3d and build_preset("nnunet_2d").features == widths_2d
    assert (build_preset("nnunet_3d").up, build_preset("nnunet_2d").up) == ("nearest", "transposed")
    assert _counts("nnunet_3d", (32, 32, 32, 1)) == (expected(widths_3d, 3), 0)
    assert _counts("nnunet_2d", (128, 128, 1)) == (expected(widths_2d, 2), 0)


def test_fpn_resnet_is_resnet50_plus_the_fpn():
    # torchvision's ResNet-50 without its classifier: 25,557,032 - 2,049,000; 1 input channel, not 3.
    backbone = 25_557_032 - 2_049_000 - 7 * 7 * 2 * 64
    laterals = _conv(1, 256, 256) + _conv(1, 512, 256) + _conv(1, 1024, 256) + _conv(1, 2048, 256)
    smoothing = 4 * _conv(9, 256, 256)
    head = _conv(9, 4 * 256, 128) + _conv(1, 128, 1)
    params, batch_stats = _counts("fpn_resnet", (64, 64, 1))
    assert params == backbone + laterals + smoothing + head == 28_026_049
    assert batch_stats == 53_120  # Running mean and variance of ResNet-50's 26,560 batch-norm channels.


def test_original_unet_maps_572_to_388():
    model = build_preset("ronneberger2015")
    out = jax.eval_shape(model.apply, variable_shapes(model, (1, 572, 572, 1)),
                         jax.ShapeDtypeStruct((1, 572, 572, 1), jnp.float32))
    assert out.shape == (1, 388, 388, 2)


def test_pig_ct_2d_has_an_8x8_bottleneck_for_512x512_slices():
    model = build_preset("pig_ct_2d")
    x = jax.ShapeDtypeStruct((1, 512, 512, 1), jnp.float32)
    out, state = jax.eval_shape(
        lambda v, x: model.apply(v, x, capture_intermediates=lambda m, _: m.name == "encoder_6"),
        variable_shapes(model, x.shape), x)
    assert state["intermediates"]["encoder_6"]["__call__"][0].shape == (1, 8, 8, 1024)
    assert out.shape == (1, 512, 512, 1) and model.head == "sigmoid"


def test_pig_ct_3d_takes_96_cubed_blocks():
    model = build_preset("pig_ct_3d")
    x = jax.ShapeDtypeStruct((2, 96, 96, 96, 1), jnp.float32)
    assert jax.eval_shape(model.apply, variable_shapes(model, x.shape), x).shape == (2, 96, 96, 96, 1)


def test_ciresan_classifies_the_centre_of_a_95_patch():
    model = build_preset("ciresan2012")
    x = jax.ShapeDtypeStruct((3, 95, 95, 1), jnp.float32)
    assert jax.eval_shape(model.apply, variable_shapes(model, x.shape), x).shape == (3, 1, 1, 2)


def test_every_preset_builds_with_its_head():
    for name, preset in PRESETS.items():
        model = build_preset(name)
        assert isinstance(model, preset.network) and model.head in ("softmax", "sigmoid")


def test_presets_take_options():
    assert build_preset("propagation_unet", depth=2).features == (64, 128, 256)
    assert build_preset("nnunet_3d", max_features=256).features == (32, 64, 128, 256, 256, 256)
    assert build_preset("pig_ct_2d").up == "nearest" and build_preset("pig_ct_2d", up="transposed").up == "transposed"
    with pytest.raises(ValueError, match="option 'depth' does not apply to model 'fpn_resnet'"):
        build_preset("fpn_resnet", depth=3)
    with pytest.raises(ValueError, match="either features or"):
        build_preset("unet", features=(4, 8), depth=3)
    with pytest.raises(ValueError, match="unknown model 'unet3'"):
        build_preset("unet3")


@pytest.mark.parametrize("name, field", [("kayalibay_concat", 73), ("kayalibay_sum", 73), ("plain_rf7", 7),
                                         ("dilated_rf15", 15), ("ciresan2012", 95)])
def test_preset_receptive_fields(name, field):
    assert receptive_field(build_preset(name)) == field


# Small networks covering every way a layer grows the receptive field; the recurrence is exact for them.
FIELD_CASES = {
    "maxpool_transposed2": dict(features=(2, 2, 2), norm="none"),
    "strided_transposed3": dict(features=(2, 2, 2), down="strided_conv", up_kernel=3, convs_per_level=1),
    "linear_conv3_dilated": dict(features=(2, 2, 2), up="linear", up_kernel=3, dilation=2, skip="none"),
    "residual": dict(features=(2, 2), block="residual", convs_per_level=1, down="strided_conv"),
}


@pytest.mark.parametrize("options", FIELD_CASES.values(), ids=FIELD_CASES.keys())
def test_derived_receptive_field_matches_the_measured_dependence(options):
    model = UNet(**options)
    assert receptive_field(model) == measured_receptive_field(model, 2**model.depth)


@pytest.mark.parametrize("name", ["plain_rf7", "dilated_rf15"])
def test_toy_receptive_fields_match_the_measured_dependence(name):
    model = build_preset(name)
    assert measured_receptive_field(model, 1) == receptive_field(model)


def test_nearest_and_even_kernel_upsampling_read_a_little_beyond_the_recurrence():
    # Seed 001's Table 7 gives 73 by Eq. 7; where an output pixel sits on the coarse grids of its
    # nearest-neighbour upsamplings, it can read up to 4 more input pixels (less than one 1/8 step).
    model = build_preset("kayalibay_concat")
    assert receptive_field(model) == 73 and measured_receptive_field(model, 8) == 77
    model = UNet(features=(2, 2, 2), up="linear", up_kernel=2, skip="sum")  # Even kernels also have phases.
    assert receptive_field(model) < measured_receptive_field(model, 4) < receptive_field(model) + 4
