"""The config's `model` section (presets, options that override them, validation) and training with it."""

from functools import partial

import jax
import numpy as np
import optax
import pytest

from jaxseg.config import ConfigError, base_config, config_from_json, load_config
from jaxseg.core.state import TrainState
from jaxseg.losses import cross_entropy
from jaxseg.models import UNet, build_model
from jaxseg.train.step import train_step
from tests.model_helpers import count, random_variables, variable_shapes


def test_network_keys_default_to_the_presets_values():
    model = build_model(base_config().model)
    assert isinstance(model, UNet) and model.features == (16, 32, 64, 128) and model.num_classes == 2


def test_a_preset_selected_by_name_with_its_seed_count():
    # configs/demo.py sets model.features, which would override the preset's; None unsets it.
    config = load_config("demo", ["model.name=kayalibay_concat", "model.features=None", "model.in_channels=4"])
    model = build_model(config.model)
    assert count(variable_shapes(model, (1, 16, 16, 16, 4))["params"]) == 410_072  # 5 classes, as the demo.


def test_config_keys_override_the_preset():
    config = load_config("demo", ["model.name=propagation_unet", "model.features=None", "model.depth=2",
                                  "model.in_channels=2", "model.up=linear", "model.up_kernel=3", "model.dtype=bfloat16",
                                  "model.convs_per_level=(1,2,2)", "model.remat=true"])
    model = build_model(config.model)
    assert model.features == (64, 128, 256) and model.up == "linear" and model.convs_per_level == (1, 2, 2)
    assert model.remat is True and model.kernel_init == "xavier" and model.dtype.__name__ == "bfloat16"


def test_config_with_network_keys_survives_json():
    config = load_config("demo", ["model.name=nnunet_2d", "model.features=None", "model.depth=4",
                                  "model.convs_per_level=(2,1,1,1,1)", "model.dropout=0.1"])
    restored = config_from_json(config.to_json())
    assert restored.to_dict() == config.to_dict()
    assert build_model(restored.model) == build_model(config.model)


@pytest.mark.parametrize("override, message", [
    ("model.name=resnet", "unknown model 'resnet'"),
    ("model.block=dense", "option 'block' = 'dense'"),
    ("model.name=fpn_resnet", "option 'features' does not apply to model 'fpn_resnet'"),
    ("model.depth=3", "give either features or base_features"),  # configs/demo.py sets model.features.
    ("model.padding=valid",
     "does not fit the valid-padding network: input length 64 reaches level 3 with an odd length 9"),
    ("model.up_kernel=two", "config key 'model.up_kernel' expects int"),
    ("model.fusion=maybe", "config key 'model.fusion' expects true or false"),
    ("model.features=(8,)", "'model.features' = (8,) is invalid"),
    ("model.num_classes=1", "'model.num_classes' must be >= 2"),
])
def test_bad_model_keys_are_named(override, message):
    with pytest.raises(ConfigError) as err:
        load_config("demo", [override])
    assert message in str(err.value)


def test_a_sigmoid_head_has_one_output_per_foreground_class():
    config = load_config("demo", ["model.name=unet2d_sigmoid", "model.features=None"])  # the demo's 5 classes
    assert build_model(config.model).num_classes == 4
    config = load_config("pig_ct_unet2d")
    model = build_model(config.model)
    shapes = variable_shapes(model, (1, 64, 64, 1))
    assert (model.head, model.num_classes) == ("sigmoid", 1)
    assert (count(shapes["params"]), count(shapes["batch_stats"])) == (81_831_025, 36_480)


def test_options_that_do_not_apply_to_the_network_are_errors(tmp_path):
    path = tmp_path / "toy.py"
    path.write_text(
        "from jaxseg.config import base_config\n"
        "def get_config():\n"
        "    c = base_config()\n"
        "    c.model.name = 'dilated_rf15'\n"
        "    c.model.head = 'softmax'\n"
        "    c.model.depth = 3\n"
        "    return c\n"
    )
    with pytest.raises(ConfigError, match="option 'depth' does not apply to model 'dilated_rf15'"):
        load_config(str(path))


@pytest.mark.slow  # XLA on a CPU compiles the threefry dropout masks of the train step in about 10 s.
def test_dropout_masks_in_training_follow_the_step():
    model = UNet(features=(4, 8), dropout=0.5)
    variables = random_variables(model, (2, 8, 8, 1))
    state = TrainState.create(apply_fn=model.apply, params=variables["params"], batch_stats=variables["batch_stats"],
                              tx=optax.sgd(0.0), rng=jax.random.key_data(jax.random.key(0)))
    batch = {"image": np.random.default_rng(0).normal(size=(2, 8, 8, 1)).astype(np.float32),
             "label": np.zeros((2, 8, 8), np.int32)}
    step = jax.jit(partial(train_step, loss_fn=cross_entropy))
    losses = [float(step(state.replace(step=s), batch)[1]["loss"]) for s in (0, 0, 1)]
    assert np.isfinite(losses).all() and losses[0] == losses[1] != losses[2]
