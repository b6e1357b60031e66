"""nnU-Net v2's planning rules as pure functions of a fingerprint (no memory model here: see `search`).

Reproduced from MIC-DKFZ/nnUNet, nnunetv2/experiment_planning/experiment_planners/
default_experiment_planner.py (ExperimentPlanner) and network_topology.py (get_pool_and_conv_props).
Axes are jaxseg's RAS order (x, y, z): spacings and shapes in mm and voxels per axis.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

ANISO_THRESHOLD = 3  # nnunetv2/configuration.py: the low-resolution axis is 3x coarser than the others.
MIN_EDGE = 4  # UNet_featuremap_min_edge_length: the bottleneck's smallest edge, voxels.
BASE_FEATURES = 32
MAX_FEATURES = {2: 512, 3: 320}
MIN_BATCH = 2
MAX_DATASET_COVERED = 0.05  # A batch sees at most 5% of the dataset's voxels.
LOWRES_THRESHOLD = 0.25  # A 3D patch under 25% of the median image asks for a low-resolution stage.
# Channel name (dataset.json channel_names, case-insensitive) -> nnU-Net normalisation; others: ZScore.
_SCHEMES = {"ct": "CTNormalization", "nonorm": "NoNormalization", "zscore": "ZScoreNormalization",
            "rescale_to_0_1": "RescaleTo01Normalization", "rgb_to_0_1": "RGBTo01Normalization"}


def target_spacing(spacings: Sequence[Sequence[float]], shapes: Sequence[Sequence[int]]) -> np.ndarray:
    """determine_fullres_target_spacing: the median spacing, except that an axis whose median spacing
    is > 3x the others' and whose median size is < 1/3 of theirs takes the 10th percentile of its
    spacings (kept above the others' largest spacing). spacings, shapes: (cases, axes)."""
    spacings, shapes = np.asarray(spacings, float), np.asarray(shapes, float)
    target = np.percentile(spacings, 50, axis=0)
    target_size = np.percentile(shapes, 50, axis=0)
    worst = int(np.argmax(target))
    others = [i for i in range(len(target)) if i != worst]
    aniso_spacing = target[worst] > ANISO_THRESHOLD * max(target[i] for i in others)
    aniso_voxels = target_size[worst] * ANISO_THRESHOLD < min(target_size[i] for i in others)
    if aniso_spacing and aniso_voxels:
        low = np.percentile(spacings[:, worst], 10)
        largest_other = max(target[i] for i in others)
        target[worst] = max(largest_other, low) + 1e-5 if low < largest_other else low
    return target


def resampled_median_shape(spacings, shapes, spacing: Sequence[float]) -> np.ndarray:
    """Median over cases of round(shape_after_crop * spacing / target spacing) (nnU-Net's compute_new_shape)."""
    spacings, shapes = np.asarray(spacings, float), np.asarray(shapes, float)
    return np.median(np.round(shapes * spacings / np.asarray(spacing, float)), axis=0)


def normalization(channels: Sequence[str], median_relative_size: float) -> list[tuple[str, bool]]:
    """(nnU-Net scheme name, use the non-zero mask) per channel: `_SCHEMES` by channel name; the mask
    is used by ZScore when cropping to the non-zero box left < 3/4 of the median image
    (determine_normalization_scheme_and_whether_mask_is_used_for_norm)."""
    schemes = [_SCHEMES.get(c.casefold(), "ZScoreNormalization") for c in channels]
    crop_matters = median_relative_size < 3 / 4
    return [(s, crop_matters and s == "ZScoreNormalization") for s in schemes]


def pool_and_conv_props(spacing: Sequence[float], patch: Sequence[int], min_edge: int = MIN_EDGE,
                        max_numpool: int = 999999) -> tuple[list[int], list[list[int]], list[list[int]], list[int]]:
    """get_pool_and_conv_props (network_topology.py): pool an axis while its edge stays >= 2 * min_edge
    and its spacing is within 2x of the finest poolable axis (a lone axis only while >= 3 * min_edge).

    Returns (pools per axis, pool kernel per stage (stage 0 all 1), conv kernel per stage, the patch
    padded up to a multiple of 2^pools on each axis)."""
    dim = len(spacing)
    current_spacing, current_size = list(map(float, spacing)), list(map(float, patch))
    pools, kernel = [0] * dim, [1] * dim
    pool_kernels, conv_kernels = [[1] * dim], []
    while True:
        valid = [i for i in range(dim) if current_size[i] >= 2 * min_edge]
        if not valid:
            break
        finest = min(current_spacing[i] for i in valid)
        valid = [i for i in valid if current_spacing[i] / finest < 2 and pools[i] < max_numpool]
        if len(valid) == 1 and current_size[valid[0]] < 3 * min_edge or not valid:
            break
        for d in range(dim):
            if kernel[d] != 3 and current_spacing[d] / min(current_spacing) < 2:
                kernel[d] = 3
        stage = [1] * dim
        for v in valid:
            stage[v] = 2
            pools[v] += 1
            current_spacing[v] *= 2
            current_size[v] = np.ceil(current_size[v] / 2)
        pool_kernels.append(stage)
        conv_kernels.append(list(kernel))
    conv_kernels.append([3] * dim)
    padded = [int(-(-int(p) // 2**n) * 2**n) for p, n in zip(patch, pools)]
    return pools, pool_kernels, conv_kernels, padded


def initial_patch(spacing: Sequence[float], median_shape: Sequence[float]) -> list[int]:
    """The starting patch: aspect ratio 1/spacing scaled to 256^3 (3D) or 2048^2 (2D) voxels, clipped
    to the median shape (get_plans_for_configuration)."""
    inverse = 1 / np.asarray(spacing, float)
    volume = 256**3 if len(spacing) == 3 else 2048**2
    scaled = inverse * (volume / np.prod(inverse)) ** (1 / len(spacing))
    return [int(min(round(s), m)) for s, m in zip(scaled, median_shape)]


def features_per_stage(stages: int, dim: int) -> tuple[int, ...]:
    """32 doubling per stage, capped at 320 (3D) or 512 (2D)."""
    return tuple(min(MAX_FEATURES[dim], BASE_FEATURES * 2**i) for i in range(stages))


def dataset_voxels(median_shape: Sequence[float], num_cases: int) -> float:
    """nnU-Net's approximate_n_voxels_dataset: the resampled median image's voxels x cases."""
    return float(np.prod(median_shape, dtype=np.float64)) * num_cases


def batch_cap(dataset_voxels: float, patch: Sequence[int]) -> int:
    """The largest batch seeing at most 5% of `dataset_voxels` (round, as nnU-Net), at least 2."""
    return max(round(dataset_voxels * MAX_DATASET_COVERED / float(np.prod(patch, dtype=np.float64))), MIN_BATCH)


def axis_to_shrink(patch: Sequence[int], median_shape: Sequence[float]) -> int:
    """The axis whose patch is largest relative to the median shape (ties: the last, as np.argsort)."""
    return int(np.argsort([p / m for p, m in zip(patch, median_shape)])[-1])


def needs_lowres(patch: Sequence[int], median_shape: Sequence[float]) -> bool:
    """nnU-Net's cascade rule: a 3D patch covering < 25% of the median image's voxels calls for a
    3d_lowres stage (plan_experiment)."""
    return float(np.prod(patch, dtype=np.float64)) / float(np.prod(median_shape, dtype=np.float64)) < LOWRES_THRESHOLD
