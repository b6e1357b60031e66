"""Options act in training: tiny runs that set many config keys away from their defaults give recorded
values, and a run changes when any one of its keys is left at its default (the slow ablation below), so
a key that stopped acting would fail a test. Five runs: many options on cropped axial slices, coronal
slices, 3D blocks, slice propagation (pairs) and adversarial training; detection keys:
tests/test_detection_options_act.py."""

import json

import pytest

from jaxseg.config import load_config
from jaxseg.train.loop import fit
from tests.conftest import tiny_overrides

# Each key is away from what the tiny demo run uses and acts within 3 steps and one validation.
# augment.rot90_p is not here: the body crop makes slices non-square, where 90-degree turns do not
# apply (the blocks run has it); sampling.skip_empty_slices neither: the cropped phantoms have no
# empty axial slice; nor model.use_bias: a bias before batch norm cancels in training (the slices run
# has both, use_bias under group norm).
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


# A second run for what the first cannot show: coronal slices of the uncropped phantoms differ in size
# (bucketed) and some are empty (skipped); group norm keeps the biases use_bias adds; a sigmoid head's
# validation thresholds its probabilities; a 5-fold split. Kept beside it, not ablated (the run's frame;
# split seed 1 trains on phantoms 2 and 3, 14 and 18 slices along z: two coronal slice sizes to bucket):
SLICES_RUN = {"model.features": (8, 16), "data.num_test": 0, "data.split_seed": 1, "augment.flip_p": 0.5,
              "train.steps": 3, "train.log_every": 1, "train.val_every": 3, "train.checkpoint_every": 3}
SLICES_SINK = {
    "data.plane": "coronal",
    "sampling.slice_shapes": "bucket",
    "sampling.skip_empty_slices": True,
    "data.normalize": "zscore",
    "data.folds": 5,
    "data.fold": 2,
    "data.num_val": 2,
    "model.norm": "group",
    "model.use_bias": True,
    "model.block": "residual",
    "model.head": "sigmoid",
    "inference.threshold": 0.3,
    "optimizer.warmup_steps": 2,
    "augment.device": True,
}
SLICES_ALTERNATIVE = {"data.folds": {"data.folds": 4},
                      "model.head": {"model.head": "softmax", "inference.threshold": 0.5}}
GOLDEN_SLICES = [1.7285790, 1.7188704, 1.7053752, 0.0035692304]

# A third run on 3D blocks: cubic blocks (where 90-degree turns apply), drawn on foreground from few
# stored locations, class-balanced; instance norm; seed 001's strided-convolution widths.
BLOCKS_RUN = {"data.sampler": "blocks", "model.features": (4, 8, 8), "model.block": "inblock_residual",
              "model.down": "strided_conv", "data.batch_size": 2, "inference.mode": "sliding_window",
              "inference.roi_size": (8, 8, 8), "train.steps": 3, "train.log_every": 1, "train.val_every": 3,
              "train.checkpoint_every": 3}
BLOCKS_SINK = {
    "sampling.block_shape": (8, 8, 8),
    "sampling.blocks_per_case": 3,
    "sampling.foreground_fraction": 1.0,
    "sampling.class_balanced": True,
    "prepare.locations_per_class": 5,
    "augment.rot90_p": 1.0,
    "model.norm": "instance",
    "model.strided_features": (6, 8),
}
BLOCKS_ALTERNATIVE = {"sampling.block_shape": {"sampling.block_shape": (16, 8, 8)}}
GOLDEN_BLOCKS = [2.8895357, 2.9478564, 3.0015909, 0.016147485]

# A fourth, of configs/slice_propagation.py (seed 004): the prior's own offset, turn and zoom, the
# organs trained and validated, and the one-shot validation's threshold. propagation.stop_after_empty
# is not here: after 3 steps no propagated slice is empty (tests/test_propagation_run.py has it).
PAIRS_RUN = {"data.num_test": 0, "model.name": "propagation_unet", "optimizer.learning_rate": 0.01,
             "optimizer.boundaries": (2,), "train.steps": 3, "train.log_every": 1, "train.val_every": 3,
             "train.checkpoint_every": 3}
PAIRS_SINK = {
    "sampling.pair_max_offset": 1,
    "sampling.pair_classes": (1, 2),
    "augment.prior_rotate_deg": 5.0,
    "augment.prior_scale": 0.2,
    "propagation.classes": (2,),
    "inference.threshold": 0.4,
}
GOLDEN_PAIRS = [0.8490262, 0.7774519, 0.6929383, 0.0035312024]

# A fifth, of seed 002's adversarial training: the discriminator's widths, its term's weight and the turns.
ADVERSARIAL_RUN = {"adversarial.enabled": True, "train.steps": 3, "train.log_every": 1, "train.val_every": 3,
                   "train.checkpoint_every": 3}
ADVERSARIAL_SINK = {"adversarial.weight": 0.5, "adversarial.features": (4, 8), "adversarial.alternate_every": 1}
GOLDEN_ADVERSARIAL = [4.8821387, 4.8554540, 4.8071408, 0.044469375]

# name: (config, keys set away from the tiny run, the run's frame, replacements for keys that cannot be
# left out alone, recorded [losses at steps 1-3, validation Dice]).
RUNS = {"many": ("demo", SINK, RUN, ALTERNATIVE, GOLDEN_SINK),
        "slices": ("demo", SLICES_SINK, SLICES_RUN, SLICES_ALTERNATIVE, GOLDEN_SLICES),
        "blocks": ("demo", BLOCKS_SINK, BLOCKS_RUN, BLOCKS_ALTERNATIVE, GOLDEN_BLOCKS),
        "pairs": ("slice_propagation", PAIRS_SINK, PAIRS_RUN, {}, GOLDEN_PAIRS),
        "adversarial": ("demo", ADVERSARIAL_SINK, ADVERSARIAL_RUN, {}, GOLDEN_ADVERSARIAL)}


def _run(phantom_root, workdir, run: str = "many", left_out: str | None = None) -> list[float]:
    """[losses at steps 1-3, validation Dice] of a tiny run with `run`'s keys, less `left_out`."""
    config, sink, frame, alternative, _ = RUNS[run]
    values = {k: v for k, v in {**sink, **frame}.items() if k != left_out or k in alternative}
    values.update(alternative.get(left_out, {}))
    overrides = [o for o in tiny_overrides(phantom_root, **values) if not o.endswith("=None") or o.startswith("model")]
    fit(load_config(config, overrides), workdir, progress=False)
    records = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    return [*(r["loss"] for r in records), records[-1]["val_dice"]]


# The default suite runs "many" and "pairs"; the slices, blocks and adversarial runs (20-60 s each on
# 2 cores) are slow-marked to keep it within its 15 minutes, beside their per-key ablations.
DEFAULT_RUNS = {"many", "pairs"}


@pytest.mark.parametrize("run", [r if r in DEFAULT_RUNS else pytest.param(r, marks=pytest.mark.slow)
                                 for r in sorted(RUNS)])
def test_a_run_with_many_options_gives_its_recorded_values(run, phantom_root, tmp_path):
    got = _run(phantom_root, tmp_path, run)
    assert got == pytest.approx(RUNS[run][4], rel=1e-4), got


@pytest.mark.slow  # one tiny training per key: about 20 minutes on 2 cores
@pytest.mark.parametrize("run, key", [(run, key) for run in sorted(RUNS) for key in sorted(RUNS[run][1])])
def test_each_option_changes_the_run(run, key, phantom_root, tmp_path):
    got = _run(phantom_root, tmp_path, run, left_out=key)
    assert got != pytest.approx(RUNS[run][4], rel=1e-6), f"{key} did not change the {run} run: {got}"
