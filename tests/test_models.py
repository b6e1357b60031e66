"""The generic U-Net: parameter counts by hand, every option in 2D and 3D, jit, grad, bf16, valid padding."""

from functools import partial

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxseg.config import load_config
from jaxseg.losses import cross_entropy, deep_supervision_loss
from jaxseg.models import UNet, build_model, build_preset, deep_supervision_outputs, downsampling_factor
from jaxseg.models.blocks import center_crop
from jaxseg.models.initializers import kernel_initializer
from tests.model_helpers import count, random_variables, variable_shapes


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
    variables = variable_shapes(UNet(features=(4, 8), num_classes=3), (1, 8, 8, 1))
    assert count(variables["params"]) == expected == 1687
    assert count(variables["batch_stats"]) == 2 * (4 + 4 + 8 + 8 + 4 + 4)


def test_demo_unet_parameter_count():
    model = build_model(load_config("demo").model)
    assert count(variable_shapes(model, (1, 64, 64, 1))["params"]) == 482_517


def test_downsampling_factor():
    assert downsampling_factor(load_config("demo").model) == 8


# Option sets that together use every value of every option; each runs in 2D and in 3D.
OPTION_SETS = {
    "residual": dict(features=(4, 8, 8), block="residual", convs_per_level=1, norm="instance",
                     activation="leaky_relu", down="strided_conv", up="transposed", up_kernel=3, skip="sum",
                     dilation=2, use_bias=True, kernel_init="he"),
    "inblock_residual": dict(features=(8, 16, 16), convs_per_level=(1, 2, 2), decoder_convs_per_level=1,
                             block="inblock_residual", norm="group", activation="prelu", down="strided_conv",
                             strided_features=(8, 16), up="nearest", up_kernel=3, up_halving=True,
                             up_norm_act=True, decoder_features=(16, 16), fusion=True, use_bias=False,
                             kernel_init="normal"),
    "plain_bf16": dict(features=(4, 8, 8), norm="none", up="linear", up_kernel=2, skip="none", dropout=0.5,
                       deep_supervision=True, remat=True, dtype=jnp.bfloat16, kernel_init="xavier"),
    "batch_norm": dict(features=(4, 8, 8), norm="batch", bn_momentum=0.5, activation="relu", up_kernel=2),
}
SHAPES = {2: (2, 16, 16, 2), 3: (1, 8, 8, 8, 2)}


def _loss_and_grad(model, variables, x):
    def loss(params):
        # An "rbg" key: XLA on a CPU compiles threefry's dropout masks slowly.
        logits, updates = model.apply({**variables, "params": params}, x, train=True,
                                      mutable=["batch_stats", "intermediates"],
                                      rngs={"dropout": jax.random.key(0, impl="rbg")})
        aux = deep_supervision_outputs(updates) if model.deep_supervision else []
        return jnp.mean(logits**2) + sum(jnp.mean(a**2) for a in aux), (logits, aux)

    return jax.value_and_grad(loss, has_aux=True)(variables["params"])


@pytest.mark.parametrize("rank", [2, 3])
@pytest.mark.parametrize("options", OPTION_SETS.values(), ids=OPTION_SETS.keys())
def test_every_option_traces_forward_and_backward_in_2d_and_3d(options, rank):
    model = UNet(num_classes=3, **options)
    shape = SHAPES[rank]
    (_, (logits, aux)), grads = jax.eval_shape(partial(_loss_and_grad, model), variable_shapes(model, shape),
                                               jax.ShapeDtypeStruct(shape, jnp.float32))
    assert logits.shape == (*shape[:-1], 3) and logits.dtype == jnp.float32
    assert jax.tree.structure(grads) == jax.tree.structure(variable_shapes(model, shape)["params"])
    if model.deep_supervision:  # Levels 1..depth-1 of a depth-2 net: one output at half resolution.
        assert [a.shape for a in aux] == [(shape[0], *(d // 2 for d in shape[1:-1]), 3)]


# Batch norm in training mode runs in test_batch_norm_momentum_sets_the_running_average.
@pytest.mark.parametrize("name", ["residual", "inblock_residual", "plain_bf16"])
def test_option_sets_give_finite_logits_and_gradients_under_jit(name):
    options = OPTION_SETS[name]
    model = UNet(num_classes=3, **options)
    shape = SHAPES[2]
    x = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    (loss, (logits, _)), grads = jax.jit(partial(_loss_and_grad, model))(random_variables(model, shape), x)
    assert np.isfinite(float(loss)) and np.isfinite(np.asarray(logits)).all()
    norms = [float(jnp.linalg.norm(g)) for g in jax.tree.leaves(grads)]
    assert all(np.isfinite(norms)) and sum(n > 0 for n in norms) > 0.9 * len(norms)


def test_3d_forward_passes_are_finite_under_jit():
    for options in (OPTION_SETS["residual"], OPTION_SETS["inblock_residual"]):
        model = UNet(num_classes=3, **options)
        x = np.random.default_rng(0).normal(size=SHAPES[3]).astype(np.float32)
        logits = jax.jit(model.apply)(random_variables(model, SHAPES[3]), x)
        assert logits.shape == (*SHAPES[3][:-1], 3) and np.isfinite(np.asarray(logits)).all()


@pytest.mark.slow  # About 15 s of XLA compilation on a CPU.
def test_a_3d_network_runs_under_jit_with_gradients():
    model = build_preset("kayalibay_concat")
    shape = (1, 16, 16, 16, 4)
    x = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    (loss, (logits, _)), grads = jax.jit(partial(_loss_and_grad, model))(random_variables(model, shape), x)
    assert logits.shape == (1, 16, 16, 16, 5)
    assert np.isfinite(float(loss)) and all(np.isfinite(float(jnp.linalg.norm(g))) for g in jax.tree.leaves(grads))


def test_bfloat16_computes_in_bfloat16_with_float32_parameters_and_logits():
    model = UNet(**OPTION_SETS["plain_bf16"], num_classes=3)
    variables = random_variables(model, SHAPES[2])
    assert {leaf.dtype for leaf in jax.tree.leaves(variables)} == {np.dtype(np.float32)}
    x = np.ones(SHAPES[2], np.float32)
    jaxpr = str(jax.make_jaxpr(lambda v, x: model.apply(v, x))(variables, x))
    assert "conv_general_dilated" in jaxpr and "bf16[2,16,16,4]" in jaxpr
    logits = jax.jit(model.apply)(variables, x)
    assert logits.dtype == jnp.float32 and np.isfinite(np.asarray(logits)).all()


def test_unet_output_shape_in_2d_and_3d_with_default_options():
    model = UNet(features=(4, 8, 16), num_classes=3)
    for shape in [(2, 16, 24, 1), (1, 8, 16, 8, 1)]:
        logits = jax.eval_shape(model.apply, variable_shapes(model, shape), jax.ShapeDtypeStruct(shape, jnp.float32))
        assert logits.shape == (*shape[:-1], 3) and logits.dtype == jnp.float32


@pytest.mark.parametrize("spatial, expected", [((20, 28), (4, 12)), ((20, 20, 28), (4, 4, 12)), ((36,) * 2, (20,) * 2)])
def test_valid_padding_output_shapes(spatial, expected):
    # Depth 1, two 3^n valid convs per level: ((s - 4) / 2 - 4) * 2 - 4; the skip is centre-cropped.
    model = UNet(features=(4, 8), padding="valid", norm="none")
    shape = (1, *spatial, 1)
    logits = jax.eval_shape(model.apply, variable_shapes(model, shape), jax.ShapeDtypeStruct(shape, jnp.float32))
    assert logits.shape == (1, *expected, 2)


def test_valid_padding_forward_is_finite_and_skips_are_cropped_at_the_centre():
    x = np.arange(2 * 6 * 7 * 3).reshape(2, 6, 7, 3)
    np.testing.assert_array_equal(center_crop(x, (2, 3)), x[:, 2:4, 2:5])
    model = UNet(features=(2, 4), padding="valid", norm="none")
    logits = np.asarray(jax.jit(model.apply)(random_variables(model, (1, 20, 20, 1)),
                                             np.ones((1, 20, 20, 1), np.float32)))
    assert logits.shape == (1, 4, 4, 2) and np.isfinite(logits).all()


def test_batch_norm_momentum_sets_the_running_average():
    shape = (2, 8, 8, 1)
    x = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    means = {}
    for momentum in (0.5, 0.9):
        model = UNet(features=(4, 8), bn_momentum=momentum)
        variables = random_variables(model, shape)  # Running means start at 0.
        _, updates = jax.jit(partial(model.apply, train=True, mutable=["batch_stats"]))(variables, x)
        means[momentum] = np.concatenate([m.ravel() for p, m in jax.tree_util.tree_leaves_with_path(updates)
                                          if p[-1].key == "mean"])
    np.testing.assert_allclose(means[0.5], 5 * means[0.9], rtol=1e-4, atol=1e-6)  # (1 - m) * batch mean


def test_deep_supervision_is_opt_in():
    model = UNet(features=(4, 8, 8, 8), deep_supervision=True)
    shape = (1, 16, 16, 1)
    variables = random_variables(model, shape)
    x = np.ones(shape, np.float32)
    assert isinstance(jax.eval_shape(model.apply, variables, x), jax.ShapeDtypeStruct)  # A plain array by default.
    logits, updates = jax.eval_shape(partial(model.apply, mutable=["intermediates"]), variables, x)
    assert logits.shape == (1, 16, 16, 2)
    assert [a.shape for a in deep_supervision_outputs(updates)] == [(1, 8, 8, 2), (1, 4, 4, 2)]
    assert set(variables["params"]) >= {"head_0", "head_1", "head_2"}

    def loss(variables, x, labels):  # nnU-Net's weighted loss over the full-resolution and auxiliary outputs.
        logits, updates = model.apply(variables, x, mutable=["intermediates"])
        return deep_supervision_loss([logits, *deep_supervision_outputs(updates)], labels, cross_entropy)

    value = jax.jit(loss)(variables, x, np.zeros((1, 16, 16), np.int32))
    assert value.shape == () and np.isfinite(float(value))


def test_fusion_and_deep_supervision_share_their_heads():
    model = UNet(features=(4, 8, 8, 8), fusion=True, deep_supervision=True)
    variables = variable_shapes(model, (1, 16, 16, 1))
    assert sorted(k for k in variables["params"] if k.startswith("head")) == ["head_0", "head_1", "head_2"]


def test_concat_and_sum_skips_differ_only_in_the_convolutions_after_the_merge():
    shapes = {skip: variable_shapes(build_preset(f"kayalibay_{skip}"), (1, 16, 16, 16, 4))["params"]
              for skip in ("concat", "sum")}
    flat = {skip: {jax.tree_util.keystr(p): leaf.shape for p, leaf in jax.tree_util.tree_leaves_with_path(tree)}
            for skip, tree in shapes.items()}
    assert flat["concat"].keys() == flat["sum"].keys()
    differ = {k for k in flat["concat"] if flat["concat"][k] != flat["sum"][k]}
    assert differ == {f"['decoder_{level}']['Conv_0']['kernel']" for level in range(3)}
    for key in differ:  # Input channels: skip + upsampled path, or the skip's width alone.
        assert flat["concat"][key][-2] == 2 * flat["sum"][key][-2]


def test_without_skips_the_decoder_sees_only_the_upsampled_path():
    shape = (1, 8, 8, 1)
    with_skip = variable_shapes(UNet(features=(4, 8)), shape)["params"]
    without = variable_shapes(UNet(features=(4, 8), skip="none"), shape)["params"]
    assert with_skip["decoder_0"]["Conv_0"]["kernel"].shape == (3, 3, 8, 4)
    assert without["decoder_0"]["Conv_0"]["kernel"].shape == (3, 3, 4, 4)


def test_resize_upsampling_has_the_parameters_of_the_transposed_convolution():
    shape = (1, 8, 8, 8, 1)
    counts = {up: count(variable_shapes(UNet(features=(4, 8), up=up, up_kernel=3), shape)["params"])
              for up in ("transposed", "nearest", "linear")}
    assert len(set(counts.values())) == 1


def test_initialisers():
    names = ["lecun", "xavier", "normal", "he"]
    kernels = jax.jit(lambda k: [kernel_initializer(n)(jax.random.fold_in(k, i), (3, 3, 16, 64))
                                 for i, n in enumerate(names)])(jax.random.key(0))
    stds = dict(zip(names, (float(k.std()) for k in kernels)))
    # fan_in 144, fan_out 576: LeCun 1/sqrt(144), Glorot sqrt(2/720), N(0, 0.01), He sqrt(2/144).
    expected = {"lecun": 1 / 12, "xavier": (2 / 720) ** 0.5, "normal": 0.01, "he": (2 / 144) ** 0.5}
    for name in names:
        assert stds[name] == pytest.approx(expected[name], rel=0.05)
    assert float(jnp.abs(kernels[1]).max()) <= (6 / 720) ** 0.5  # Glorot uniform's bound.


FLAX_INITIALIZERS = {"lecun": nn.initializers.lecun_normal(), "xavier": nn.initializers.xavier_uniform(),
                     "normal": nn.initializers.normal(0.01), "he": nn.initializers.he_normal()}


@pytest.mark.parametrize("name", sorted(FLAX_INITIALIZERS))
def test_bucketed_initialisers_equal_flax_bit_for_bit(name):
    """Outside jit the kernels come from flat power-of-two draws; they must be Flax's values exactly,
    for a shape filling a whole bucket and shapes inside one."""
    key = jax.random.key(7)
    for shape in [(1, 1, 32, 32), (3, 3, 3, 8, 16)]:  # 1024 (a whole bucket), 3456 (3D fans)
        ours = kernel_initializer(name)(key, shape)
        assert ours.shape == shape and ours.dtype == jnp.float32
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(FLAX_INITIALIZERS[name](key, shape)))


def test_initialisers_under_jit_are_flaxs():
    """Under tracing Flax's initialiser runs (XLA fuses the scaling there, so jit and eager values differ
    in the last bit, in Flax too)."""
    key, shape = jax.random.key(7), (3, 3, 16, 64)
    traced = jax.jit(lambda k: kernel_initializer("he")(k, shape))(key)
    np.testing.assert_array_equal(np.asarray(traced),
                                  np.asarray(jax.jit(lambda k: FLAX_INITIALIZERS["he"](k, shape))(key)))


@pytest.mark.parametrize("options, message", [
    (dict(block="dense"), "option 'block' = 'dense'"),
    (dict(features=(4, 8), convs_per_level=(1, 2, 2)), "option 'convs_per_level' = (1, 2, 2): expected 2 entries"),
    (dict(up_kernel=4), "'up_kernel' must be 2 or 3"),
    (dict(fusion=True, padding="valid"), "'fusion' needs same padding"),
    (dict(strided_features=(4, 4, 4)), "'strided_features' needs down='strided_conv'"),
])
def test_impossible_options_are_named(options, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        UNet(**options).check()


def test_odd_sizes_are_refused_with_the_multiple_needed():
    model = UNet(features=(4, 8, 16))
    with pytest.raises(ValueError, match="divisible by 4"):
        variable_shapes(model, (1, 12, 10, 1))
