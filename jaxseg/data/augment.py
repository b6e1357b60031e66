"""Spatial augmentation: one random geometric transform shared by an image and its label maps.

The transform maps each output voxel o to a source position
    centre + M (o - (out - 1) / 2) + d(o)
where M = rotation / scale and d is an optional smooth elastic displacement, followed by exact
flips and 90-degree rotations of the output. The image is interpolated linearly, label maps by
nearest neighbour or per class (linear interpolation of one-hot masks, then the most likely class),
so a label map that equals the image stays equal to it under nearest neighbour. Only the source
region the output needs is read, which keeps memory-mapped volumes cheap; without rotation,
scaling or elastic deformation the output is a plain (padded) crop.
All randomness comes from the generator passed in: one per sample, from the pipeline's seed.
"""

from __future__ import annotations

import dataclasses

import ml_collections
import numpy as np
from scipy import ndimage


@dataclasses.dataclass(frozen=True)
class SpatialAugmentation:
    """Probabilities and ranges from the config's `augment` section (spatial part)."""

    flip_p: float = 0.0
    rot90_p: float = 0.0
    rotate_p: float = 0.0
    rotate_deg: float = 180.0
    scale_p: float = 0.0
    scale_range: tuple[float, float] = (0.8, 1.2)
    elastic_p: float = 0.0
    elastic_sigma: float = 8.0
    elastic_alpha: float = 2.0
    label_interpolation: str = "nearest"

    @classmethod
    def from_config(cls, augment: ml_collections.ConfigDict) -> SpatialAugmentation:
        return cls(**{f.name: _plain(augment[f.name]) for f in dataclasses.fields(cls)})


def _plain(value):
    return tuple(value) if isinstance(value, (list, tuple)) else value


def rotation_matrix(angles: np.ndarray) -> np.ndarray:
    """(n, n) rotation by `angles` radians: one angle in 2D; in 3D about axes 0, 1, 2 in turn."""
    if len(angles) == 1:
        c, s = np.cos(angles[0]), np.sin(angles[0])
        return np.array([[c, -s], [s, c]])
    matrix = np.eye(3)
    for axis, angle in enumerate(angles):
        a, b = [i for i in range(3) if i != axis]
        turn = np.eye(3)
        turn[[a, a, b, b], [a, b, a, b]] = np.cos(angle), -np.sin(angle), np.sin(angle), np.cos(angle)
        matrix = turn @ matrix
    return matrix


def smooth_displacement(rng: np.random.Generator, shape: tuple[int, ...], sigma: float, alpha: float) -> np.ndarray:
    """(n, *shape) float32 displacement in voxels: smooth over about `sigma` voxels, std `alpha`.

    Drawn on a grid about sigma/2 times coarser and interpolated up: the same look as filtering a
    full-size noise field, at a fraction of the cost.
    """
    coarse = tuple(max(2, int(np.ceil(2 * s / sigma)) + 1) for s in shape)
    fields = []
    for _ in shape:
        field = ndimage.gaussian_filter(rng.standard_normal(coarse), 1.0, mode="nearest")
        field = ndimage.zoom(field, [s / c for s, c in zip(shape, coarse)], order=1, mode="nearest", grid_mode=True)
        fields.append(alpha * field / (field.std() + 1e-12))
    return np.stack(fields).astype(np.float32)


def crop_padded(source: np.ndarray, origin: np.ndarray, shape: tuple[int, ...], fill) -> np.ndarray:
    """source[origin : origin + shape] over the leading len(shape) axes, `fill` where outside."""
    n = len(shape)
    out = np.empty((*shape, *source.shape[n:]), source.dtype)
    out[...] = fill
    low = np.maximum(origin, 0)
    high = np.minimum(np.asarray(origin) + shape, source.shape[:n])
    if np.all(high > low):
        inner = tuple(slice(a, b) for a, b in zip(low, high))
        target = tuple(slice(a - o, b - o) for a, b, o in zip(low, high, origin))
        out[target] = source[inner]
    return out


def resample_at(source: np.ndarray, coords: np.ndarray, order: int, fill) -> np.ndarray:
    """source (*S, [C]) sampled at coords (n, *out): reads only the region the coordinates cover."""
    n = coords.shape[0]
    flat = coords.reshape(n, -1)
    low = np.clip(np.floor(flat.min(axis=1)).astype(int) - 1, 0, source.shape[:n])
    high = np.clip(np.ceil(flat.max(axis=1)).astype(int) + 2, 0, source.shape[:n])
    extra = source.shape[n:]
    fills = np.broadcast_to(np.asarray(fill, np.float64), extra) if extra else np.asarray(fill, np.float64)
    if np.any(high <= low):
        out = np.empty((*coords.shape[1:], *extra), source.dtype)
        out[...] = fills
        return out
    region = np.asarray(source[tuple(slice(a, b) for a, b in zip(low, high))])
    shifted = coords - low.reshape(n, *[1] * (coords.ndim - 1))
    if not extra:
        return ndimage.map_coordinates(region, shifted, order=order, mode="constant", cval=float(fill),
                                       output=source.dtype)
    channels = [ndimage.map_coordinates(region[..., c], shifted, order=order, mode="constant", cval=float(fills[c]),
                                        output=source.dtype) for c in range(extra[0])]
    return np.stack(channels, axis=-1)


def _resample_label(label: np.ndarray, coords: np.ndarray, onehot: bool) -> np.ndarray:
    if not onehot:
        return resample_at(label, coords, 0, 0)
    best = np.full(coords.shape[1:], -1.0, np.float32)
    out = np.zeros(coords.shape[1:], label.dtype)
    for value in np.unique(resample_at(label, coords, 0, 0)):
        score = resample_at((label == value).astype(np.float32), coords, 1, float(value == 0))
        better = score > best
        best[better], out[better] = score[better], value
    return out


def warp(image: np.ndarray, labels: list[np.ndarray], origin: np.ndarray, out_shape: tuple[int, ...],
         aug: SpatialAugmentation, rng: np.random.Generator, image_fill: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """A randomly transformed crop of (image (*S, C), labels [(*S)]) of spatial size `out_shape`.

    origin: the source voxel the crop starts at without augmentation; the transform turns about the
    crop's centre. Outside the source, the image takes `image_fill` (C,) and labels 0.
    """
    n = len(out_shape)
    matrix = np.eye(n)
    if rng.random() < aug.rotate_p:
        matrix = rotation_matrix(np.deg2rad(rng.uniform(-aug.rotate_deg, aug.rotate_deg, 1 if n == 2 else 3)))
    if rng.random() < aug.scale_p:
        matrix = matrix / rng.uniform(*aug.scale_range)
    elastic = rng.random() < aug.elastic_p
    if elastic or not np.allclose(matrix, np.eye(n)):
        centre = np.asarray(origin, float) + (np.asarray(out_shape) - 1) / 2
        grid = np.indices(out_shape, dtype=np.float32).reshape(n, -1) - ((np.asarray(out_shape) - 1) / 2)[:, None]
        coords = (matrix @ grid + centre[:, None]).reshape(n, *out_shape)
        if elastic:
            coords = coords + smooth_displacement(rng, out_shape, aug.elastic_sigma, aug.elastic_alpha)
        image = resample_at(image, coords, 1, image_fill)
        labels = [_resample_label(label, coords, aug.label_interpolation == "onehot") for label in labels]
    else:
        image = crop_padded(image, origin, out_shape, image_fill)
        labels = [crop_padded(label, origin, out_shape, 0) for label in labels]
    return _flip_and_turn(image, labels, out_shape, aug, rng)


def _flip_and_turn(image: np.ndarray, labels: list[np.ndarray], out_shape: tuple[int, ...],
                   aug: SpatialAugmentation, rng: np.random.Generator) -> tuple[np.ndarray, list[np.ndarray]]:
    """Exact flips per axis and a k x 90-degree turn in a plane whose two axes are equally long."""
    n = len(out_shape)
    flips = tuple(a for a in range(n) if rng.random() < aug.flip_p)
    planes = [(a, b) for a in range(n) for b in range(a + 1, n) if out_shape[a] == out_shape[b]]
    turn = planes[rng.integers(len(planes))] if planes and rng.random() < aug.rot90_p else None
    k = int(rng.integers(1, 4)) if turn else 0

    def apply(array: np.ndarray) -> np.ndarray:
        if flips:
            array = np.flip(array, flips)
        if turn:
            array = np.rot90(array, k, axes=turn)
        return np.ascontiguousarray(array)

    return apply(image), [apply(label) for label in labels]


def turn_about_centre(mask: np.ndarray, angle_deg: float, scale: float) -> np.ndarray:
    """A 2D mask rotated by `angle_deg` and scaled by `scale` about the array's centre (nearest neighbour)."""
    shape = mask.shape
    matrix = rotation_matrix(np.deg2rad([angle_deg])) / scale
    centre = (np.asarray(shape) - 1) / 2
    grid = np.indices(shape, dtype=np.float32).reshape(2, -1) - centre[:, None]
    coords = (matrix @ grid + centre[:, None]).reshape(2, *shape)
    return ndimage.map_coordinates(mask, coords, order=0, mode="constant", cval=0, output=mask.dtype)
