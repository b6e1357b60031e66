"""Options act in training: a tiny run that sets many config keys away from their defaults gives recorded
values, and the run changes when any one of them is left at its default (the slow ablation below), so
a key that stopped acting would fail a test."""

import json

import pytest

from jaxseg.config import load_config
from jaxseg.train.loop import fit
from tests.conftest import tiny_overrides

# Each key is away from what the tiny demo run uses and acts within 3 steps and one validation.
# augment.rot90_p is not here: the body crop makes slices non-square, where 90-degree turns do not
# apply (tests/test_data_augment.py covers them); sampling.skip_empty_slices neither: the cropped
# phantoms have no empty axial slice (tests/test_data_samplers.py); nor model.use_bias: a bias
# before batch norm cancels in training (the preset counts in tests/test_model_presets.py hold it).
SINK = {
    "seed": 3,
    "data.split_seed": 1,
    "data.clip_hu": (-300.0, 400.0),
    "data.ct_divisor": 200.0,
    "data.batch_size": 2,
    "prepare.spacing_mm": (14.0, 14.0, 16.0),
    "prepare.crop": "body",
    "prepare.crop_margin_mm": 12.0,
    "augment.flip_p": 1.0,
    "augment.rotate_p": 1.0,
    "augment.rotate_deg": 30.0,
    "augment.scale_p": 1.0,
    "augment.scale_range": (0.9, 1.3),
    "augment.elastic_p": 1.0,
    "augment.elastic_sigma": 4.0,
    "augment.elastic_alpha": 1.5,
    "augment.label_interpolation": "onehot",
    "augment.brightness_p": 1.0,
    "augment.brightness_range": (0.8, 1.3),
    "augment.contrast_p": 1.0,
    "augment.contrast_range": (0.8, 1.3),
    "augment.gamma_p": 1.0,
    "augment.gamma_range": (0.8, 1.4),
    "augment.noise_p": 1.0,
    "augment.noise_std": 0.05,
    "augment.blur_p": 1.0,
    "augment.blur_sigma": (0.6, 1.2),
    "model.base_features": 4,
    "model.growth": 1.5,
    "model.depth": 4,
    "model.max_features": 8,
    "model.convs_per_level": 1,
    "model.decoder_convs_per_level": 2,
    "model.bn_momentum": 0.5,
    "model.activation": "leaky_relu",
    "model.down": "strided_conv",
    "model.up": "linear",
    "model.up_kernel": 3,
    "model.up_halving": True,
    "model.up_norm_act": True,
    "model.decoder_features": (6, 8, 8, 8),
    "model.skip": "sum",
    "model.dilation": 2,
    "model.dropout": 0.2,
    "model.fusion": True,
    "model.deep_supervision": True,
    "model.kernel_init": "he",
    "optimizer.name": "sgd",
    "optimizer.learning_rate": 0.05,
    "optimizer.momentum": 0.8,
    "optimizer.nesterov": True,
    "optimizer.schedule": "piecewise",
    "optimizer.boundaries": (1,),
    "optimizer.decay_factor": 0.5,
    "optimizer.weight_decay": 0.05,
    "optimizer.grad_clip_norm": 0.5,
    "train.grad_accum_steps": 2,
    "inference.mode": "sliding_window",
    "inference.roi_size": (16, 16),
    "inference.overlap": 0.25,
    "inference.blend": "constant",
    "inference.mirror_axes": (0,),
    "inference.largest_component": True,
    "inference.fill_holes": True,
}
RUN = {"model.features": None, "train.steps": 3, "train.log_every": 1, "train.val_every": 3,
       "train.checkpoint_every": 3}
# Keys that cannot be left out alone (the config would be invalid) are changed to these values instead.
ALTERNATIVE = {"inference.roi_size": {"inference.roi_size": (32, 32)},
               "model.depth": {"model.depth": 3, "model.decoder_features": (6, 8, 8)}}
# [losses at steps 1-3, validation Dice] of the run with every SINK key (recorded on a CPU).
GOLDEN_SINK = [2.7255881, 2.7200837, 2.6292486, 0.10124199]


def _run(phantom_root, workdir, left_out: str | None = None) -> list[float]:
    values = {k: v for k, v in {**SINK, **RUN}.items() if k != left_out or k in ALTERNATIVE}
    values.update(ALTERNATIVE.get(left_out, {}))
    overrides = [o for o in tiny_overrides(phantom_root, **values) if not o.endswith("=None") or o.startswith("model")]
    fit(load_config("demo", overrides), workdir, progress=False)
    records = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    return [*(r["loss"] for r in records), records[-1]["val_dice"]]


def test_a_run_with_many_options_gives_its_recorded_values(phantom_root, tmp_path):
    got = _run(phantom_root, tmp_path)
    assert got == pytest.approx(GOLDEN_SINK, rel=1e-4), got


@pytest.mark.slow  # one tiny training per key: about 15 minutes on 2 cores
@pytest.mark.parametrize("key", sorted(SINK))
def test_each_option_changes_the_run(key, phantom_root, tmp_path):
    got = _run(phantom_root, tmp_path, left_out=key)
    assert got != pytest.approx(GOLDEN_SINK, rel=1e-6), f"{key} did not change the run: {got}"
