"""Surface-distance metrics of two binary masks (numpy in, float out, distances in mm).

Hausdorff distance, its percentiles (HD95) and the average surface distance follow MONAI's
compute_hausdorff_distance / compute_average_surface_distance: the surface of a mask is its
voxels with a background 6-neighbour (4 in 2D; outside the image counts as background), and
distances run between voxel centres scaled by the spacing. The normalised surface Dice follows
DeepMind surface-distance's compute_surface_dice_at_tolerance: surfels on the voxel-corner grid
weighted by their area (see jaxseg.metrics.surfels).

Empty masks, the convention of every jaxseg metric: both empty -> distance 0.0 and surface Dice
1.0; exactly one empty -> distance inf and surface Dice 0.0. (MONAI returns nan for two empty
masks, surface-distance nan for the surface Dice.)

Nearest surface points come from a k-d tree over the surface points rather than a distance
transform of the whole bounding box: both give exact Euclidean distances, the tree in time that
grows with the surface instead of the volume (30 s -> 1 s for a 512x512x300 pair).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.spatial import cKDTree

from jaxseg.metrics.surfels import surfel_area_table

Spacing = float | Sequence[float] | None


def _masks_and_spacing(pred: np.ndarray, true: np.ndarray,
                       spacing: Spacing) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pred, true = np.asarray(pred, bool), np.asarray(true, bool)
    if pred.shape != true.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from reference shape {true.shape}")
    spacing = np.asarray(1.0 if spacing is None else spacing, np.float64)
    if spacing.ndim == 0:
        spacing = np.full(pred.ndim, float(spacing))
    if spacing.shape != (pred.ndim,) or not np.all(spacing > 0):
        raise ValueError(f"spacing must be {pred.ndim} positive mm values (or one), got {spacing.tolist()}")
    return pred, true, spacing


def _crop_to_union(pred: np.ndarray, true: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both masks cropped to the bounding box of their union (distances are translation-invariant)."""
    union = pred | true
    box = []
    for axis in range(union.ndim):
        hits = np.flatnonzero(union.any(axis=tuple(a for a in range(union.ndim) if a != axis)))
        box.append(slice(hits[0], hits[-1] + 1))
    return pred[tuple(box)], true[tuple(box)]


def _edge_points(mask: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    """(K, ndim) positions in mm of the voxels of `mask` that have a background face neighbour."""
    padded = np.pad(mask, 1)
    interior = mask.copy()
    centre = (slice(1, -1),) * mask.ndim
    for axis in range(mask.ndim):
        for shifted in (slice(0, -2), slice(2, None)):
            index = list(centre)
            index[axis] = shifted
            interior &= padded[tuple(index)]
    return np.argwhere(mask & ~interior) * spacing


def _nearest(points: np.ndarray, targets: np.ndarray, upper_bound: float = np.inf) -> np.ndarray:
    """Distance from each of `points` to the nearest of `targets`; inf when there are none, or none
    within `upper_bound` (a bound lets the tree stop searching early).
    """
    if len(targets) == 0:
        return np.full(len(points), np.inf)
    if len(points) == 0:
        return np.zeros(0)
    # Sliding-midpoint splits (balanced_tree=False) build and query faster on surface point clouds.
    tree = cKDTree(targets, leafsize=32, balanced_tree=False, compact_nodes=False)
    return tree.query(points, k=1, distance_upper_bound=upper_bound)[0]


def surface_distances(pred: np.ndarray, true: np.ndarray, spacing: Spacing = None) -> tuple[np.ndarray, np.ndarray]:
    """Distances in mm from each surface voxel of `pred` to the surface of `true`, and back.

    pred, true: binary masks of equal shape (any dimension). spacing: mm per axis (a number for
    isotropic voxels; None means 1). Returns (pred_to_true, true_to_pred) as float64 arrays; a side
    whose other mask is empty has all distances inf.
    """
    pred, true, spacing = _masks_and_spacing(pred, true, spacing)
    if not (pred.any() or true.any()):
        return np.zeros(0), np.zeros(0)
    pred, true = _crop_to_union(pred, true)
    pred_points, true_points = _edge_points(pred, spacing), _edge_points(true, spacing)
    return _nearest(pred_points, true_points), _nearest(true_points, pred_points)


def _empty_convention(pred_to_true: np.ndarray, true_to_pred: np.ndarray) -> float | None:
    if len(pred_to_true) == 0 and len(true_to_pred) == 0:
        return 0.0
    if len(pred_to_true) == 0 or len(true_to_pred) == 0:
        return float("inf")
    return None


def hausdorff_distance(pred: np.ndarray, true: np.ndarray, spacing: Spacing = None,
                       percentile: float | None = None) -> float:
    """Symmetric Hausdorff distance in mm; with `percentile` (e.g. 95 for HD95), the larger of the two
    directed distance percentiles (linear interpolation), as MONAI computes them.
    """
    if percentile is not None and not 0 <= percentile <= 100:
        raise ValueError(f"percentile must be in [0, 100], got {percentile}")
    forward, backward = surface_distances(pred, true, spacing)
    empty = _empty_convention(forward, backward)
    if empty is not None:
        return empty
    if percentile is None:
        return float(max(forward.max(), backward.max()))
    return float(max(np.percentile(forward, percentile), np.percentile(backward, percentile)))


def average_surface_distance(pred: np.ndarray, true: np.ndarray, spacing: Spacing = None,
                             symmetric: bool = True) -> float:
    """Average surface distance in mm. symmetric (ASSD): the mean over the surface voxels of both
    masks of their distance to the other surface; otherwise the mean from `pred` to `true` (MONAI's
    directed default).
    """
    forward, backward = surface_distances(pred, true, spacing)
    empty = _empty_convention(forward, backward)
    if empty is not None:
        return empty
    return float(np.concatenate([forward, backward]).mean() if symmetric else forward.mean())


def _surfels(mask: np.ndarray, spacing: np.ndarray, table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(positions (K, ndim) in mm, areas (K,)) of the surfels of `mask` on its voxel-corner grid."""
    padded = np.pad(mask, 1).astype(np.uint8)
    ndim = mask.ndim
    codes = np.zeros(tuple(s + 1 for s in mask.shape), np.uint8)
    for bit, offset in enumerate(np.ndindex((2,) * ndim)):
        # Corner point i sits between voxels i-1 and i; voxel offset `offset` sets bit 2^(2^ndim - 1 - bit).
        index = tuple(slice(o, o + s + 1) for o, s in zip(offset, mask.shape))
        codes |= padded[index] << np.uint8(2**ndim - 1 - bit)
    border = (codes != 0) & (codes != 2 ** 2**ndim - 1)
    return np.argwhere(border) * spacing, table[codes[border]]


def normalized_surface_dice(pred: np.ndarray, true: np.ndarray, tolerance_mm: float,
                            spacing: Spacing = None) -> float:
    """Normalised surface Dice at `tolerance_mm` (Nikolov et al. 2021), in [0, 1].

    (area of pred's surface within tolerance of true's + area of true's within tolerance of pred's)
    / (total area of both surfaces), surfels weighted by area in mm^2 (mm in 2D); equal to DeepMind
    surface-distance's compute_surface_dice_at_tolerance. pred, true: 2D or 3D binary masks.
    """
    pred, true, spacing = _masks_and_spacing(pred, true, spacing)
    if pred.ndim not in (2, 3):
        raise ValueError(f"surface Dice needs 2D or 3D masks, got {pred.ndim}D")
    if not pred.any() and not true.any():
        return 1.0
    if not pred.any() or not true.any():
        return 0.0
    pred, true = _crop_to_union(pred, true)
    table = surfel_area_table(spacing)
    pred_points, pred_areas = _surfels(pred, spacing, table)
    true_points, true_areas = _surfels(true, spacing, table)
    # A relative 1e-9 slack so that a distance equal to the tolerance counts whatever its rounding.
    limit = tolerance_mm * (1 + 1e-9)
    within = (pred_areas[_nearest(pred_points, true_points, 2 * limit + 1.0) <= limit].sum()
              + true_areas[_nearest(true_points, pred_points, 2 * limit + 1.0) <= limit].sum())
    return float(within / (pred_areas.sum() + true_areas.sum()))
