"""Patch and batch from measured memory: XLA's compiled memory analysis of the real train step.

nnU-Net (default_experiment_planner.py, get_plans_for_configuration) shrinks the patch along the
axis with the largest patch / median-shape ratio until a proxy estimate (summed feature-map sizes
against a reference of 8 GB) allows batch 2, then scales the batch by the proxy's headroom. Here
the same shrinking loop asks `jaxseg.perf.step_cost.step_memory` (peak bytes per device of the
compiled train step, on this backend) instead, and the batch is the largest that fits
(`jaxseg.plan.largest_fitting`), capped at 5% of the dataset's voxels as nnU-Net caps it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import ml_collections
import numpy as np

from jaxseg.core.mesh import mesh_from_config
from jaxseg.perf.step_cost import step_memory
from jaxseg.plan import largest_fitting
from jaxseg.planning import rules


@dataclasses.dataclass
class MemorySearch:
    """The outcome: patch (voxels per model axis), batch (global), depth (jaxseg's U-Net pools every
    axis at each level: the fewest pools nnU-Net's rule gives any axis), the per-axis pools of
    nnU-Net's rule, peak bytes per device at (batch, patch), the peak at the next larger batch (None
    when the batch hit the 5% cap), what limited the batch, and every (patch, peak at batch 2) tried."""

    patch: tuple[int, ...]
    batch: int
    depth: int
    nnunet_pools: tuple[int, ...]
    peak_bytes: int
    next_batch_peak_bytes: int | None
    batch_limit: str
    batch_cap: int
    tried: list[tuple[tuple[int, ...], int]]


def padded_topology(spacing: Sequence[float], patch: Sequence[int], limit: Sequence[int] | None = None
                    ) -> tuple[int, tuple[int, ...], tuple[int, ...]]:
    """(depth, nnU-Net's pools per axis, the patch padded up to a multiple of 2^depth on every axis,
    or rounded down where padding would pass `limit`: jaxseg's block sampler takes blocks inside a
    case, where nnU-Net pads cases smaller than the patch)."""
    pools = rules.pool_and_conv_props(spacing, patch)[0]
    depth = max(1, min(pools))
    factor = 2**depth
    limit = limit or [None] * len(patch)
    padded = [-(-p // factor) * factor for p in patch]
    padded = [p if m is None or p <= m else m // factor * factor for p, m in zip(padded, limit)]
    return depth, tuple(pools), tuple(int(p) for p in padded)


def search(make_config: Callable[[tuple[int, ...], int, int], ml_collections.ConfigDict], spacing: Sequence[float],
           median_shape: Sequence[float], start_patch: Sequence[int], dataset_voxels: float, budget_bytes: int,
           shrink: bool = True, limit: Sequence[int] | None = None) -> MemorySearch:
    """The largest patch (nnU-Net's shrinking order from `start_patch`) whose train step at batch 2
    fits `budget_bytes` per device, then the largest batch there, up to `rules.batch_cap` of
    `dataset_voxels`.

    make_config(patch, depth, batch) -> the config to compile. limit: the largest patch per axis (the
    smallest case). Without `shrink` the patch is fixed (2D whole slices) and ValueError says so when
    batch 2 does not fit. ValueError also when no patch fits."""
    peaks: dict[tuple, int] = {}

    def peak(patch: tuple[int, ...], depth: int, batch: int) -> int:
        if (patch, batch) not in peaks:
            config = make_config(patch, depth, batch)
            peaks[patch, batch] = step_memory(config, batch, patch, mesh_from_config(config.mesh)).peak_bytes
        return peaks[patch, batch]

    patch, tried = tuple(int(p) for p in start_patch), []
    while True:
        depth, pools, patch = padded_topology(spacing, patch, limit)
        if min(patch) == 0:
            raise ValueError(f"a case of {limit} voxels is smaller than the network's input multiple {2**depth}")
        tried.append((patch, peak(patch, depth, rules.MIN_BATCH)))
        if tried[-1][1] <= budget_bytes:
            break
        axis = rules.axis_to_shrink(patch, median_shape)
        if not shrink or patch[axis] <= 2**depth:
            what = "whole slices" if not shrink else "the smallest patch"
            raise ValueError(f"{what} {patch} need {tried[-1][1] / 2**30:.2f} GiB at batch {rules.MIN_BATCH}, over "
                             f"the budget of {budget_bytes / 2**30:.2f} GiB")
        # nnU-Net subtracts the divisor of the patch one step smaller, so that no valid size is skipped.
        smaller = list(patch)
        smaller[axis] -= 2**depth
        smaller[axis] = patch[axis] - 2 ** padded_topology(spacing, smaller)[0]
        patch = tuple(smaller)
    cap = rules.batch_cap(dataset_voxels, patch)
    unit = mesh_from_config(make_config(patch, depth, rules.MIN_BATCH).mesh).size
    batch = largest_fitting(lambda b: peak(patch, depth, b) <= budget_bytes, unit, limit=max(cap, unit))
    limited = batch + unit <= cap
    return MemorySearch(patch, batch, depth, pools, peak(patch, depth, batch),
                        peak(patch, depth, batch + unit) if limited else None,
                        "memory" if limited else f"5% of the dataset's voxels (cap {cap})", cap, tried)


def max_slice_shape(shapes: Sequence[Sequence[int]], spacings, spacing: Sequence[float],
                    normal: int) -> tuple[int, ...]:
    """The largest in-plane size (the two axes other than `normal`) of the cases resampled to `spacing`:
    the slices sampler pads every slice to it."""
    resampled = np.round(np.asarray(shapes, float) * np.asarray(spacings, float) / np.asarray(spacing, float))
    return tuple(int(v) for v in np.delete(resampled.max(axis=0), normal))
