"""Preprocessing shared by the prepared cache and by cases loaded for validation: crop, resample or
resize slices, normalise. Everything here works on RAS-ordered volumes from `read_case`.
"""

from __future__ import annotations

import dataclasses

import ml_collections
import numpy as np
from scipy import ndimage

from jaxseg.data.cases import LoadedCase
from jaxseg.io import Volume
from jaxseg.io.volume import PLANE_NORMALS

# Body mask threshold for CT channels: above it is tissue, below is air (about -1000 HU) and lung.
BODY_HU = -500.0


@dataclasses.dataclass(frozen=True)
class Preprocessing:
    """How a case becomes training data; two caches with equal settings hold the same arrays.

    normalize: per channel, ct (clip to clip_hu, centre, divide by ct_divisor) | zscore (mean and
    std of the channel's non-zero voxels) | none. spacing_mm: target voxel size (x, y, z), empty to
    keep. crop: none | body | foreground, with crop_margin_mm around the box. slice_size: the
    in-plane size (two RAS axes in order) every slice along `plane` is resized to; empty to keep.
    """

    normalize: tuple[str, ...]
    clip_hu: tuple[float, float]
    ct_divisor: float
    spacing_mm: tuple[float, ...]
    crop: str
    crop_margin_mm: float
    num_classes: int
    locations_per_class: int
    slice_size: tuple[int, ...]
    plane: str

    @classmethod
    def from_config(cls, config: ml_collections.ConfigDict, channels: tuple[str, ...],
                    num_classes: int) -> Preprocessing:
        """Settings from a config; `channels` are the dataset's modalities (for data.normalize = auto)."""
        mode = config.data.normalize
        normalize = tuple(("ct" if c.upper() == "CT" else "zscore") if mode == "auto" else mode for c in channels)
        low, high = (float(v) for v in config.data.clip_hu)
        return cls(normalize, (low, high), float(config.data.ct_divisor) or (high - low) / 2,
                   tuple(float(s) for s in config.prepare.spacing_mm), config.prepare.crop,
                   float(config.prepare.crop_margin_mm), num_classes, int(config.prepare.locations_per_class),
                   tuple(int(s) for s in config.prepare.slice_size), config.data.plane)


def crop_box(case: LoadedCase, p: Preprocessing) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) voxel bounds (3,) of the crop, margin included, clipped to the volume."""
    shape = np.array(case.label.shape)
    if p.crop == "none":
        return np.zeros(3, int), shape
    if p.crop == "foreground":
        mask = case.label.array > 0
    else:
        image = case.image.array
        mask = np.zeros(shape, bool)
        for c, mode in enumerate(p.normalize):
            mask |= image[..., c] > BODY_HU if mode == "ct" else image[..., c] != 0
    if not mask.any():
        return np.zeros(3, int), shape
    occupied = [np.flatnonzero(mask.any(axis=tuple(a for a in range(3) if a != axis))) for axis in range(3)]
    lows, highs = np.array([o[0] for o in occupied]), np.array([o[-1] + 1 for o in occupied])
    margin = np.ceil(p.crop_margin_mm / np.array(case.label.spacing)).astype(int)
    return np.maximum(lows - margin, 0), np.minimum(highs + margin, shape)


def crop(volume: Volume, low: np.ndarray, high: np.ndarray) -> Volume:
    """The sub-volume [low, high) with its affine moved to the new first voxel."""
    box = tuple(slice(int(a), int(b)) for a, b in zip(low, high))
    affine = volume.affine.copy()
    affine[:3, 3] = volume.affine[:3, :3] @ np.asarray(low, float) + volume.affine[:3, 3]
    return Volume(np.ascontiguousarray(volume.array[box]), affine, volume.source)


def _resampled_affine(affine: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """Affine of a grid whose voxel n covers input indices [n f - 1/2, (n + 1) f - 1/2)."""
    out = affine.copy()
    out[:3, :3] = affine[:3, :3] * factors
    out[:3, 3] = affine[:3, :3] @ (0.5 * factors - 0.5) + affine[:3, 3]
    return out


def resize_linear(array: np.ndarray, spatial_shape: tuple[int, ...]) -> np.ndarray:
    """`array` (*S, ...) resized linearly to `spatial_shape` on its leading axes (other axes kept),
    pixel areas aligned (grid mode) and edges extended: no overshoot, no shift."""
    zoom = [o / s for o, s in zip(spatial_shape, array.shape)] + [1.0] * (array.ndim - len(spatial_shape))
    return ndimage.zoom(array, zoom, order=1, mode="nearest", grid_mode=True)


def slice_resized_shape(shape: tuple[int, ...], axis: int, slice_size: tuple[int, ...]) -> tuple[int, ...]:
    """Spatial `shape` with the two axes other than `axis` (the plane normal) set to `slice_size`."""
    out = list(shape[:3])
    for a, size in zip((a for a in range(3) if a != axis), slice_size):
        out[a] = int(size)
    return tuple(out)


def resampled_shape(shape: tuple[int, ...], spacing: tuple[float, ...],
                    spacing_mm: tuple[float, ...]) -> tuple[int, ...]:
    """round(shape * spacing / spacing_mm), at least 1 voxel per axis: the grid `resample` gives."""
    out = np.maximum(np.round(np.array(shape) * np.array(spacing) / np.array(spacing_mm)), 1).astype(int)
    return tuple(int(s) for s in out)


def model_grid_shape(shape: tuple[int, ...], spacing: tuple[float, ...], plane_axis: int,
                     prepare: ml_collections.ConfigDict) -> tuple[int, ...]:
    """The shape a volume of `shape` voxels of `spacing` mm had when prepared for training: resampled
    to `prepare.spacing_mm`, or its slices resized to `prepare.slice_size` (crops aside)."""
    if prepare.slice_size:
        return slice_resized_shape(shape, plane_axis, tuple(prepare.slice_size))
    if prepare.spacing_mm:
        return resampled_shape(shape, spacing, tuple(prepare.spacing_mm))
    return tuple(shape)


def resize_case(case: LoadedCase, out_shape: tuple[int, ...]) -> LoadedCase:
    """The case on a grid of `out_shape` voxels covering the same field of view.

    Image channels are interpolated linearly (no overshoot at edges); the label map per class
    (linear interpolation of each class's mask, then the most likely class), which keeps thin
    structures better than nearest neighbour.
    """
    shape = np.array(case.label.shape)
    out_shape = np.array(out_shape)
    if np.array_equal(out_shape, shape):
        return case
    image = resize_linear(case.image.array, tuple(out_shape))
    best = np.full(tuple(out_shape), -1.0, np.float32)
    label = np.zeros(tuple(out_shape), np.uint8)
    for value in np.unique(case.label.array):
        score = resize_linear((case.label.array == value).astype(np.float32), tuple(out_shape))
        better = score > best
        best[better], label[better] = score[better], value
    affine = _resampled_affine(case.image.affine, shape / out_shape)
    return LoadedCase(case.case_id, Volume(image.astype(np.float32), affine, case.image.source),
                      Volume(label, affine, case.label.source))


def resample(case: LoadedCase, spacing_mm: tuple[float, ...]) -> LoadedCase:
    """The case on a grid of (about) `spacing_mm` covering the same field of view (see `resize_case`).

    Output shape: round(shape * spacing / spacing_mm).
    """
    return resize_case(case, resampled_shape(case.label.shape, case.label.spacing, spacing_mm))


def normalize(image: np.ndarray, p: Preprocessing) -> tuple[np.ndarray, tuple[float, ...]]:
    """Normalised image (I, J, K, C) float32 and, per channel, the value of empty space (for padding).

    ct: the normalised bottom of the window (air). zscore: where a raw 0 lands. none: 0.
    """
    out = np.empty(image.shape, np.float32)
    pads = []
    for c, mode in enumerate(p.normalize):
        x = image[..., c]
        if mode == "ct":
            low, high = p.clip_hu
            centre = (low + high) / 2
            out[..., c] = (np.clip(x, low, high) - centre) / p.ct_divisor
            pads.append((low - centre) / p.ct_divisor)
        elif mode == "zscore":
            inside = x[x != 0] if np.any(x != 0) else x
            mean, std = float(inside.mean()), float(inside.std()) or 1.0
            out[..., c] = (x - mean) / std
            pads.append(-mean / std)
        else:
            out[..., c] = x
            pads.append(0.0)
    return out, tuple(float(v) for v in pads)


def preprocess_case(case: LoadedCase, p: Preprocessing) -> tuple[LoadedCase, tuple[float, ...]]:
    """Crop, resample, normalise and resize the slices of a case read by `read_case`; also the
    padding value per channel.

    Slices are resized after normalising, as inference resizes the normalised image it is given,
    so that both send the model the same values (a z-score of a downsized noisy image would differ).
    """
    low, high = crop_box(case, p)
    case = LoadedCase(case.case_id, crop(case.image, low, high), crop(case.label, low, high))
    if p.spacing_mm:
        case = resample(case, p.spacing_mm)
    image, pads = normalize(case.image.array, p)
    case = LoadedCase(case.case_id, Volume(image, case.image.affine, case.image.source), case.label)
    if p.slice_size:
        case = resize_case(case, slice_resized_shape(case.label.shape, PLANE_NORMALS[p.plane], p.slice_size))
    return case, pads
