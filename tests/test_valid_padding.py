"""Valid-padding U-Nets (the original U-Net, seed 003): overlap-tile training windows, cropped labels,
overlap-tile inference equal to one forward pass of the mirrored image."""

import json

import jax
import numpy as np
import optax
import pytest

from jaxseg.config import ConfigError, load_config
from jaxseg.core.state import TrainState
from jaxseg.data.tiles import OverlapTileSampler, mirror_pad
from jaxseg.inference.overlap_tile import overlap_tile_predict, tile_starts
from jaxseg.losses import cross_entropy
from jaxseg.models import build_preset
from jaxseg.train.loop import fit
from jaxseg.train.step import train_step
from tests.conftest import tiny_overrides
from tests.model_helpers import random_variables

TINY = build_preset("ronneberger2015", depth=2, base_features=4, dropout=0.0)  # 100 -> 60, border 20


def test_the_original_unet_maps_572_to_388():
    assert build_preset("ronneberger2015").output_size(572) == 388
    assert TINY.output_size(100) == 60
    with pytest.raises(ValueError, match="odd length"):
        TINY.output_size(102)


def test_overlap_tile_prediction_equals_one_pass_over_the_mirrored_image():
    variables = random_variables(TINY, (1, 100, 100, 1))
    forward = jax.jit(lambda x: jax.nn.softmax(TINY.apply(variables, x, train=False), axis=-1))
    image = np.random.default_rng(0).normal(size=(512, 512, 1)).astype(np.float32)
    tiled = overlap_tile_predict(lambda x: np.asarray(forward(x)), image, 2, 16, 100, 60, 4)[..., 0, :]
    starts = tile_starts(512, 60, 4)
    assert starts[1] == 60 and starts[-1] + 60 >= 512
    padded = mirror_pad(image, (20, 20), (starts[-1] + 60 - 512 + 20,) * 2)
    direct = np.asarray(forward(padded[None]))[0, :512, :512]
    np.testing.assert_allclose(tiled, direct, rtol=1e-5, atol=1e-6)


class _Slices:
    elements = np.zeros((1, 2), np.int64)
    buckets = np.zeros(1, np.int64)
    sample_shapes = [(48, 40)]

    def sample(self, element, rng):
        image = np.arange(48 * 40, dtype=np.float32).reshape(48, 40, 1)
        return {"image": image, "label": (image[..., 0] % 3).astype(np.int32)}


def test_training_tiles_hold_the_output_window_inside_the_slice():
    sampler = OverlapTileSampler(_Slices(), 100, 60)
    sample = sampler.sample(np.zeros(2, np.int64), np.random.default_rng(1))
    assert sampler.sample_shapes == [(100, 100)] and sample["image"].shape == (100, 100, 1)
    source = _Slices().sample(None, None)
    # The slice is smaller than the window: the window starts at the slice's corner, 20 mirrored pixels before it.
    np.testing.assert_array_equal(sample["image"][20:68, 20:60], source["image"])
    np.testing.assert_array_equal(sample["image"][19, 20:60], source["image"][1])  # mirrored, edge not repeated
    np.testing.assert_array_equal(sample["label"][20:68, 20:60], source["label"])


def test_the_train_step_compares_the_output_with_the_labels_centre():
    variables = random_variables(TINY, (1, 100, 100, 1))  # no normalisation: no batch statistics
    state = TrainState.create(apply_fn=TINY.apply, params=variables["params"], batch_stats={},
                              tx=optax.sgd(0.0), rng=jax.random.key_data(jax.random.key(0)))
    rng = np.random.default_rng(0)
    batch = {"image": rng.normal(size=(2, 100, 100, 1)).astype(np.float32),
             "label": rng.integers(0, 2, size=(2, 100, 100)).astype(np.int32)}
    _, metrics = jax.jit(lambda s, b: train_step(s, b, cross_entropy))(state, batch)
    logits = TINY.apply(variables, batch["image"], train=True)
    assert float(metrics["loss"]) == pytest.approx(float(cross_entropy(logits, batch["label"][:, 20:80, 20:80])),
                                                   rel=1e-5)


@pytest.mark.slow  # two compilations (train step, tile prediction): about 30 s
def test_a_valid_padding_unet_trains_and_validates_by_overlap_tile(phantom_root, tmp_path):
    overrides = tiny_overrides(phantom_root, **{"model.name": "ronneberger2015", "model.features": None,
                                                "model.depth": 2, "model.base_features": 4, "model.num_classes": 5,
                                                "sampling.tile_size": 100, "loss.name": "cross_entropy",
                                                "train.steps": 4, "train.log_every": 2, "train.val_every": 4,
                                                "train.checkpoint_every": 4})
    config = load_config("demo", overrides)
    fit(config, tmp_path, progress=False)
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["loss"] for r in records] == pytest.approx(GOLDEN_VALID_LOSSES, rel=1e-4)
    assert records[-1]["val_dice"] == pytest.approx(GOLDEN_VALID_VAL_DICE, rel=1e-4)


GOLDEN_VALID_LOSSES = [1.6311262, 1.6043146]  # steps 2 and 4 (recorded on a CPU)
GOLDEN_VALID_VAL_DICE = 0.0152574


@pytest.mark.parametrize("overrides, message", [
    (["sampling.tile_size=100"], "'sampling.tile_size' = 100 has no effect"),
    (["model.name=ronneberger2015", "model.features=None", "sampling.tile_size=574"], "odd length"),
    (["model.name=ronneberger2015", "model.features=None", "data.sampler=blocks"], "needs 'data.sampler' = slices"),
    (["model.name=ronneberger2015", "model.features=None", "augment.device=true"], "or 'augment.device'"),
])
def test_valid_padding_settings_that_cannot_work_are_errors(overrides, message):
    with pytest.raises(ConfigError) as err:
        load_config("demo", overrides)
    assert message in str(err.value)
