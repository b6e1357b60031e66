"""`jaxseg plan --dataset`: a fingerprint in, a 2D and a 3D plan (config settings with reasons) out.

Each plan follows nnU-Net v2's ExperimentPlanner (see `rules`) for spacing, normalisation, topology
and training recipe, and `search` for patch and batch. jaxseg's U-Net pools every axis at each level,
so its depth is the fewest pools nnU-Net's per-axis rule gives any axis (nnU-Net also pools the other
axes further); the per-axis pools are kept in the plan for comparison.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jax
import ml_collections
import numpy as np

from jaxseg.config import ConfigError, base_config, load_config
from jaxseg.plan import confirm_on_device
from jaxseg.planning import rules
from jaxseg.planning.search import MemorySearch, max_slice_shape, search
from jaxseg.planning.settings import (
    PLANE_OF_NORMAL,
    Setting,
    dataset_settings,
    nnunet_recipe,
    normalization_settings,
    to_config,
)
from jaxseg.planning.writer import write_config


@dataclasses.dataclass
class StagePlan:
    """One configuration: "2d" or "3d", its settings (config keys with reasons), the memory search and
    nnU-Net's rule outcomes (JSON-able) for reports and conformance checks."""

    name: str
    settings: list[Setting]
    memory: MemorySearch
    decisions: dict


def _fmt(values) -> str:
    return "(" + ", ".join(f"{v:g}" for v in values) + ")"


def plan_from_fingerprint(fingerprint: dict, data_config: ml_collections.ConfigDict, budget_bytes: int,
                          name: str, base_features: int = rules.BASE_FEATURES) -> dict[str, StagePlan]:
    """{"3d": StagePlan, "2d": StagePlan} for the dataset `fingerprint` describes, read by `data_config`.

    base_features: width of the first level (nnU-Net: 32; smaller only to keep tests fast)."""
    spacings, shapes = fingerprint["spacings"], fingerprint["shapes_after_crop"]
    channels = fingerprint["channels"]
    num_classes, num_cases = len(fingerprint["labels"]), fingerprint["num_cases"]
    spacing = rules.target_spacing(spacings, shapes)
    median = rules.resampled_median_shape(spacings, shapes, spacing)
    median_spacing = np.median(np.asarray(spacings, float), axis=0)
    schemes = rules.normalization(channels, fingerprint["median_relative_size_after_crop"])
    aniso = "" if np.allclose(spacing, median_spacing) else (
        f"; the low-resolution axis takes its 10th percentile (> {rules.ANISO_THRESHOLD}x the others)")
    common = [*dataset_settings(data_config),
              Setting("model.num_classes", num_classes, f"labels {fingerprint['labels']}"),
              Setting("model.in_channels", len(channels), f"channels {channels}"),
              Setting("prepare.spacing_mm", tuple(round(float(s), 5) for s in spacing),
                      f"median spacing {_fmt(median_spacing)} mm of {num_cases} cases{aniso}"),
              *normalization_settings(channels, fingerprint["foreground_intensity"], schemes,
                                      fingerprint["median_relative_size_after_crop"])]
    decisions = {"target_spacing": [float(s) for s in spacing], "median_shape": [float(m) for m in median],
                 "normalization": [s for s, _ in schemes], "use_mask_for_norm": [m for _, m in schemes]}
    device = f"{jax.devices()[0].device_kind} ({jax.default_backend()})"
    plans = {}

    # 3D: blocks of the patch, shrunk from nnU-Net's starting patch until batch 2 fits.
    def config_3d(patch, depth, batch):
        return to_config(f"{name}_3d", [*common, *_model_3d(patch, depth, batch, base_features)])

    start = rules.initial_patch(spacing, median)
    voxels = rules.dataset_voxels(median, num_cases)
    smallest = np.round(np.asarray(shapes, float) * np.asarray(spacings, float) / spacing).min(axis=0).astype(int)
    memory = search(config_3d, spacing, median, start, voxels, budget_bytes, limit=tuple(int(s) for s in smallest))
    lowres = rules.needs_lowres(memory.patch, median)
    settings = [*common, *nnunet_recipe(3, (0, 1, 2)), *_model_3d(memory.patch, memory.depth, memory.batch,
                                                                    base_features, memory, budget_bytes, device)]
    confirmed = _confirm(config_3d(memory.patch, memory.depth, memory.batch), memory, budget_bytes)
    plans["3d"] = StagePlan("3d", settings, memory, {
        **decisions, "start_patch": start, "smallest_case": smallest.tolist(), "patch": list(memory.patch),
        "nnunet_pools": list(memory.nnunet_pools), "depth": memory.depth, "batch": memory.batch,
        "peak_bytes": memory.peak_bytes, "confirmed_on_device": confirmed, "lowres_needed": lowres,
        "patch_fraction_of_median": float(np.prod(memory.patch) / np.prod(median))})

    # 2D: whole slices normal to the coarsest axis (nnU-Net transposes it first and plans the other two).
    normal = int(np.argmax(spacing))
    in_plane = [float(s) for i, s in enumerate(spacing) if i != normal]
    slice_shape = max_slice_shape(shapes, spacings, spacing, normal)
    median_2d = [m for i, m in enumerate(median) if i != normal]

    def config_2d(patch, depth, batch):
        return to_config(f"{name}_2d", [*common, *_model_2d(patch, depth, batch, normal, base_features)])

    # nnU-Net's 5% cap counts whole volumes in 2D too.
    memory = search(config_2d, in_plane, median_2d, slice_shape, voxels, budget_bytes, shrink=False)
    settings = [*common, *nnunet_recipe(2, (0, 1)),
                *_model_2d(memory.patch, memory.depth, memory.batch, normal, base_features, memory, budget_bytes,
                           device)]
    confirmed = _confirm(config_2d(memory.patch, memory.depth, memory.batch), memory, budget_bytes)
    plans["2d"] = StagePlan("2d", settings, memory, {
        **decisions, "plane": PLANE_OF_NORMAL[normal], "patch": list(memory.patch),
        "nnunet_pools": list(memory.nnunet_pools), "depth": memory.depth, "batch": memory.batch,
        "peak_bytes": memory.peak_bytes, "confirmed_on_device": confirmed})
    return plans


def _confirm(config: ml_collections.ConfigDict, memory: MemorySearch, budget_bytes: int) -> bool | None:
    """On a GPU, whether steps at the chosen size run with JAX's pool capped to the budget
    (`jaxseg.plan.confirm_on_device`); None elsewhere (XLA's analysis is all there is)."""
    if jax.default_backend() != "gpu":
        return None
    return confirm_on_device(config, memory.batch, memory.patch, budget_bytes)


def _memory_note(memory: MemorySearch | None, budget_bytes: int, device: str) -> str:
    if memory is None:
        return ""
    gib = 2**30
    tried = "; ".join(f"{p} -> {b / gib:.2f} GiB" for p, b in memory.tried)
    after = ("" if memory.next_batch_peak_bytes is None
             else f", batch {memory.batch + 1} needs {memory.next_batch_peak_bytes / gib:.2f} GiB")
    return (f"XLA memory analysis on {device}, budget {budget_bytes / gib:.2f} GiB: patches at batch 2: {tried}; "
            f"batch {memory.batch} peaks at {memory.peak_bytes / gib:.2f} GiB{after}; batch limited by "
            f"{memory.batch_limit}")


def _model(preset: str, depth: int, dim: int, base_features: int, pools) -> list[Setting]:
    widths = rules.features_per_stage(depth + 1, dim) if base_features == rules.BASE_FEATURES else None
    return [Setting("model.name", preset, "nnU-Net's PlainConvUNet: 2 convs 3x3(x3) per level, instance norm, "
                    "leaky ReLU, strided-conv downsampling, deep supervision"),
            Setting("model.depth", depth, f"nnU-Net's pools per axis {tuple(pools)} (bottleneck edge >= "
                    f"{rules.MIN_EDGE}); jaxseg pools all axes at each level: the fewest"),
            Setting("model.deep_supervision", depth >= 3, "" if depth >= 3 else
                    "deep supervision needs >= 3 levels (nnU-Net's weights give the lowest output 0)"),
            Setting("model.base_features", base_features, f"doubling per level to {widths}" if widths else ""),
            Setting("model.max_features", rules.MAX_FEATURES[dim], f"nnU-Net's cap in {dim}D")]


def _model_3d(patch, depth, batch, base_features, memory=None, budget_bytes=0, device="") -> list[Setting]:
    pools = memory.nnunet_pools if memory else (depth,) * 3  # While searching: no comment is written.
    return [*_model("nnunet_3d", depth, 3, base_features, pools),
            Setting("data.sampler", "blocks"),
            Setting("sampling.block_shape", tuple(patch), _memory_note(memory, budget_bytes, device)),
            Setting("sampling.foreground_fraction", 0.33, "nnU-Net's foreground oversampling"),
            Setting("data.batch_size", batch),
            Setting("loss.batch_dice", False, "nnU-Net: batch Dice only with a low-resolution stage"),
            Setting("inference.mode", "sliding_window"),
            Setting("inference.roi_size", tuple(patch)),
            Setting("inference.batch_size", batch)]


def _model_2d(patch, depth, batch, normal, base_features, memory=None, budget_bytes=0, device="") -> list[Setting]:
    pools = memory.nnunet_pools if memory else (depth,) * 2
    return [*_model("nnunet_2d", depth, 2, base_features, pools),
            Setting("data.sampler", "slices"),
            Setting("data.plane", PLANE_OF_NORMAL[normal], f"slices normal to the coarsest axis ({'xyz'[normal]})"),
            Setting("data.batch_size", batch, _memory_note(memory, budget_bytes, device) +
                    f"; whole slices padded to {tuple(patch)}"),
            Setting("loss.batch_dice", True, "nnU-Net: batch Dice in 2D"),
            Setting("inference.mode", "slices"),
            Setting("inference.batch_size", batch)]



def data_config_from(dataset: str) -> ml_collections.ConfigDict:
    """A data config (a config file or name), or a Decathlon / nnU-Net raw folder (one with a dataset.json)."""
    folder = Path(dataset)
    if folder.is_dir():
        if not (folder / "dataset.json").is_file():
            raise ConfigError(f"--dataset {dataset}: a folder must hold a dataset.json (Decathlon or nnU-Net raw "
                              "layout); else give a config file")
        config = base_config()
        config.name = folder.name
        config.data.source, config.data.root = "msd", str(folder.absolute())
        return config
    return load_config(dataset)


def write_plans(plans: dict[str, StagePlan], out: str | Path, budget_bytes: int, fingerprint_file: Path,
                command: str) -> dict[str, Path]:
    """OUT_2d.py and OUT_3d.py, each named after the file; their paths by stage."""
    out, written = Path(out), {}
    for stage, plan in plans.items():
        path = out.with_name(f"{out.name}_{stage}.py")
        d = plan.decisions
        header = [f"{stage.upper()} configuration planned from a dataset by `{command}`.", "",
                  f"Fingerprint: {fingerprint_file.parent.name}/{fingerprint_file.name} in the prepared cache. "
                  f"Budget {budget_bytes / 2**30:.2f} GiB per device.",
                  f"Target spacing {_fmt(d['target_spacing'])} mm, median shape after resampling "
                  f"{_fmt(d['median_shape'])} voxels, patch {tuple(d['patch'])}, batch {d['batch']}.",
                  "Every decision is commented below with the numbers behind it (nnU-Net v2's rules; patch",
                  "and batch by XLA's memory analysis of this train step)."]
        if stage == "3d":
            header.append(f"Patch covers {d['patch_fraction_of_median']:.1%} of the median image: nnU-Net's "
                          f"cascade rule ({rules.LOWRES_THRESHOLD:.0%}) "
                          + ("calls for a low-resolution 3D stage (not generated)." if d["lowres_needed"]
                             else "needs no low-resolution stage."))
        written[stage] = write_config(path, path.stem, plan.settings, header)
    return written


def plan_summary(plans: dict[str, StagePlan]) -> str:
    """The lines `jaxseg plan --dataset` prints."""
    lines = []
    for stage, plan in plans.items():
        d, m = plan.decisions, plan.memory
        lines.append(f"{stage}: spacing {_fmt(d['target_spacing'])} mm, patch {tuple(d['patch'])}, batch "
                     f"{d['batch']} ({m.peak_bytes / 2**30:.2f} GiB peak; limited by {m.batch_limit}), depth "
                     f"{d['depth']} (nnU-Net pools per axis {tuple(d['nnunet_pools'])}), normalisation "
                     f"{', '.join(d['normalization'])}")
        if d["confirmed_on_device"] is not None:
            answer = "yes" if d["confirmed_on_device"] else "NO (out of memory)"
            lines.append(f"    confirmed by a capped run: {answer}")
        if stage == "3d":
            lines.append(f"    low-resolution 3D stage {'needed' if d['lowres_needed'] else 'not needed'} (patch "
                         f"covers {d['patch_fraction_of_median']:.1%} of the median image)")
    return "\n".join(lines)
