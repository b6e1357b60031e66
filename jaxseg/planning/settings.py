"""The config keys a plan sets, each with the reason (and numbers) behind it.

A `Setting` is (key, value, why). The same list builds the in-memory config the memory search
compiles (`to_config`) and the Python file `writer` renders, so the file trains what was measured.
Defaults are nnU-Net v2's (nnunetv2/training/nnUNetTrainer/nnUNetTrainer.py): SGD nesterov 0.99,
lr 0.01, weight decay 3e-5, poly schedule, 1000 epochs of 250 iterations, foreground oversampling
0.33, Dice + CE, its augmentation recipe (get_training_transforms).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import ml_collections

from jaxseg.config import ConfigError, base_config
from jaxseg.config.loading import set_value

# The keys that say which dataset and split a plan trains on, copied from the data config.
DATASET_KEYS = ("data.source", "data.root", "data.num_val", "data.num_test", "data.split_seed", "data.folds",
                "data.fold", "data.test_cases", "data.val_cases", "data.cache_dir", "phantom.num_cases",
                "phantom.shape", "phantom.spacing_mm", "phantom.seed", "io.max_voxels")
PLANE_OF_NORMAL = {0: "sagittal", 1: "coronal", 2: "axial"}
STEPS_PER_EPOCH = 250
EPOCHS = 1000


@dataclasses.dataclass(frozen=True)
class Setting:
    key: str
    value: Any
    why: str = ""


def dataset_settings(data_config: ml_collections.ConfigDict) -> list[Setting]:
    """The dataset identity of `data_config` (only keys that differ from the defaults)."""
    defaults, out = base_config(), []
    for key in DATASET_KEYS:
        section, leaf = key.split(".")
        value = data_config[section][leaf]
        if value != defaults[section][leaf]:
            out.append(Setting(key, value, "from the data config" if key != "data.source" else ""))
    if data_config.data.source not in ("msd", "phantom"):
        raise ConfigError(f"config '{data_config.name}': planning from a dataset reads Decathlon / nnU-Net raw "
                          f"volumes (data.source = msd or phantom), not data.source = {data_config.data.source!r}")
    if data_config.data.source == "msd" and not any(s.key == "data.source" for s in out):
        out.insert(0, Setting("data.source", "msd"))
    return out


def normalization_settings(channels: Sequence[str], intensity: Sequence[dict],
                           schemes: Sequence[tuple[str, bool]], median_relative_size: float) -> list[Setting]:
    """data.normalize, clip_hu, ct_divisor, prepare.crop from nnU-Net's scheme per channel.

    CT (nnU-Net: clip to the foreground 0.5/99.5 percentiles, subtract the foreground mean, divide by
    its std) becomes jaxseg's ct mode with clip_hu = those percentiles and ct_divisor = that std: the
    same values shifted by the constant (window centre - mean) / std, which the first convolution's
    bias absorbs. Other channels: z-score over the non-zero voxels, and the crop to the non-zero box
    that nnU-Net always does (prepare.crop = body)."""
    names = ", ".join(f"channel {i} '{c}': {s}{' (non-zero mask)' if m else ''}"
                      for i, (c, (s, m)) in enumerate(zip(channels, schemes)))
    ct = [i for i, (s, _) in enumerate(schemes) if s == "CTNormalization"]
    if not ct:
        return [Setting("data.normalize", "zscore", f"nnU-Net: {names}"),
                Setting("prepare.crop", "body", "nnU-Net crops every case to its non-zero box; median size after "
                        f"cropping {median_relative_size:.3f} of the image")]
    stats = intensity[ct[0]]
    why = (f"foreground of channel {ct[0]}: 0.5/99.5 percentiles {stats['percentile_00_5']:.1f}/"
           f"{stats['percentile_99_5']:.1f}, mean {stats['mean']:.1f}, std {stats['std']:.1f}")
    return [Setting("data.normalize", "auto", f"nnU-Net: {names}; auto: ct for CT channels, else z-score"),
            Setting("data.clip_hu", (round(stats["percentile_00_5"], 2), round(stats["percentile_99_5"], 2)), why),
            Setting("data.ct_divisor", round(stats["std"], 3), "the foreground std (nnU-Net's CTNormalization)"),
            Setting("prepare.crop", "none", "CT: the non-zero box is the whole scan (air is -1000 HU)")]


def nnunet_recipe(dim: int, spatial_axes: Sequence[int]) -> list[Setting]:
    """nnU-Net v2's training defaults: optimiser, loss, sampling, augmentation, schedule, inference."""
    rotate = 30.0 if dim == 3 else 180.0
    return [
        Setting("loss.name", "dice_ce", "nnU-Net: Dice + cross-entropy, weights 1 and 1"),
        Setting("loss.include_background", False),
        Setting("optimizer.name", "sgd", "nnU-Net: SGD, nesterov, momentum 0.99, lr 0.01, poly 0.9"),
        Setting("optimizer.learning_rate", 0.01),
        Setting("optimizer.momentum", 0.99),
        Setting("optimizer.nesterov", True),
        Setting("optimizer.schedule", "poly"),
        Setting("optimizer.weight_decay", 3e-5),
        Setting("optimizer.grad_clip_norm", 12.0, "nnU-Net clips the gradient norm at 12"),
        Setting("train.steps", EPOCHS * STEPS_PER_EPOCH, f"nnU-Net: {EPOCHS} epochs of {STEPS_PER_EPOCH} iterations"),
        Setting("train.log_every", STEPS_PER_EPOCH),
        Setting("train.val_every", 10 * STEPS_PER_EPOCH),
        Setting("train.checkpoint_every", 10 * STEPS_PER_EPOCH),
        Setting("train.best_metric_ema", 0.9, "nnU-Net picks the best checkpoint by an EMA of validation Dice"),
        Setting("augment.rotate_p", 0.2, f"nnU-Net's recipe: rotation +-{rotate:.0f} deg, scaling 0.7-1.4, "
                "noise, blur, brightness, contrast, gamma, mirroring (elastic off, as in v2)"),
        Setting("augment.rotate_deg", rotate),
        Setting("augment.scale_p", 0.2),
        Setting("augment.scale_range", (0.7, 1.4)),
        Setting("augment.noise_p", 0.1),
        Setting("augment.noise_std", 0.1),
        Setting("augment.blur_p", 0.2),
        Setting("augment.blur_sigma", (0.5, 1.0)),
        Setting("augment.brightness_p", 0.15),
        Setting("augment.brightness_range", (0.75, 1.25)),
        Setting("augment.contrast_p", 0.15),
        Setting("augment.contrast_range", (0.75, 1.25)),
        Setting("augment.gamma_p", 0.3),
        Setting("augment.gamma_range", (0.7, 1.5)),
        Setting("augment.flip_p", 0.5),
        Setting("inference.mirror_axes", tuple(spatial_axes), "nnU-Net mirrors along every axis at test time"),
        Setting("inference.overlap", 0.5),
        Setting("inference.blend", "gaussian"),
    ]


def to_config(name: str, settings: Sequence[Setting]) -> ml_collections.ConfigDict:
    """base_config() with `name` and every setting applied, in order."""
    config = base_config()
    config.name = name
    for setting in settings:
        set_value(config, setting.key, setting.value)
    return config


def replaced(settings: Sequence[Setting], changes: dict[str, Setting]) -> list[Setting]:
    """`settings` with the entries of the keys in `changes` replaced (in place) or appended."""
    out = [changes.get(s.key, s) for s in settings]
    known = {s.key for s in settings}
    return out + [s for k, s in changes.items() if k not in known]
