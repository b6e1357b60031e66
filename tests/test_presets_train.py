"""Presets that other tests only build and count train here: each runs 2 steps of `fit` on the tiny
phantoms at small widths and gives recorded losses and validation Dice, so a preset (or one of its
options) that stopped acting would fail. The trained parameter count equals `jaxseg model-info`'s for
the run's config (config_model_info) and a recorded number.

Widths: U-Net presets keep their options and take smaller base_features / depth / max_features (the
preset's growth kept); ToyFCN, FPNSegmenter and Ciresan2012 have no width config key and train as the
preset defines them. nnunet_3d and kayalibay_sum (3D presets) train on 3D blocks as
tests/test_data_fit.py; propagation_resstrided on configs/slice_propagation.py's pairs as the pairs run
of tests/test_options_act.py.

Slow (pytest -m slow): fpn_resnet (ResNet-50 widths, 34 s), kayalibay_sum (3D, 26 s), nnunet_3d (3D,
19-25 s), and nnunet_2d and propagation_resstrided (10-14 s each), to keep the default suite within its
15 minutes on 2 cores. ciresan2012, a 95^2
patch classifier without a label-map output, is refused for training (its test below).
"""

import json

import jax
import pytest

from jaxseg.config import ConfigError, load_config
from jaxseg.models.info import config_model_info
from jaxseg.train.loop import fit
from tests.conftest import tiny_overrides

TRAIN = {"model.features": None, "train.steps": 2, "train.log_every": 1, "train.val_every": 2,
         "train.checkpoint_every": 2}
BLOCKS = {"data.sampler": "blocks", "sampling.block_shape": (16, 16, 8), "sampling.blocks_per_case": 2,
          "data.batch_size": 2, "inference.mode": "sliding_window", "inference.roi_size": (16, 16, 8)}
SMALL_UNET = {"model.depth": 3, "model.base_features": 4, "model.max_features": 8}

# preset: (config, overrides beside the tiny run's and TRAIN, spatial shape of one training input,
#          recorded [loss at step 1, loss at step 2, validation Dice], recorded parameter count) (CPU).
CASES = {
    # ToyFCN, 8 features, sigmoid head: 4 outputs for the phantoms' 5 classes (1,257 + 3 x 9 weights).
    "plain_rf7": ("demo", {}, (32, 32), [1.6482441, 1.6207310, 0.0075692134], 1284),
    "dilated_rf15": ("demo", {}, (32, 32), [1.6515543, 1.6239216, 0.0071797580], 1284),
    "nnunet_2d": ("demo", SMALL_UNET, (32, 32), [3.3337269, 3.2490466, 0.023609696], 8299),
    "nnunet_3d": ("demo", {**SMALL_UNET, **BLOCKS}, (16, 16, 8), [3.1545036, 3.1593027, 0.021023826], 23411),
    "propagation_resstrided": ("slice_propagation", {"data.num_test": 0, "model.depth": 2, "model.base_features": 4,
                                                     "optimizer.learning_rate": 0.01},
                               (32, 32), [0.8121203, 0.7385209, 0.049456344], 11462),
    # The preset's widths: strided_features and decoder_features are given for its depth 3.
    "kayalibay_sum": ("demo", BLOCKS, (16, 16, 8), [2.5529895, 2.4133606, 0.031477147], 336_848),
    # ResNet-50 + FPN; sizes must be multiples of 32.
    "fpn_resnet": ("demo", {"data.batch_size": 2}, (32, 32), [4.1634974, 0.47011501, 0.0038759690], 28_026_436),
}
SLOW = {"fpn_resnet", "kayalibay_sum", "nnunet_3d", "nnunet_2d", "propagation_resstrided"}


def _train(preset: str, phantom_root, workdir):
    config_name, extra, _, _, _ = CASES[preset]
    values = {"model.name": preset, **TRAIN, **extra}
    overrides = [o for o in tiny_overrides(phantom_root, **values) if not o.endswith("=None") or o.startswith("model")]
    config = load_config(config_name, overrides)
    state = fit(config, workdir, progress=False)
    records = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    return config, state, [*(r["loss"] for r in records), records[-1]["val_dice"]]


@pytest.mark.parametrize("preset", [pytest.param(p, marks=pytest.mark.slow) if p in SLOW else p for p in CASES])
def test_preset_trains_to_its_recorded_values(preset, phantom_root, tmp_path):
    config, state, got = _train(preset, phantom_root, tmp_path / "run")
    _, _, spatial, golden, params = CASES[preset]
    assert config.model.name == preset
    assert got == pytest.approx(golden, rel=1e-4), got
    trained = sum(int(leaf.size) for leaf in jax.tree.leaves(state.params))
    assert trained == config_model_info(config.model, spatial)["params"] == params


def test_ciresan2012_is_refused_for_training(phantom_root):
    """A 95^2 patch classifier gives no label map of its input: the config is refused, not trained on nothing."""
    with pytest.raises(ConfigError, match=r"^config key 'model.name' = 'ciresan2012' is a patch classifier"):
        load_config("demo", tiny_overrides(phantom_root, **{"model.name": "ciresan2012", "model.features": None}))
