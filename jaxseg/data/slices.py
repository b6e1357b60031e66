"""2D slices of prepared cases along an anatomical plane, padded for a U-Net.

Every slice is padded at the high end of each in-plane axis to a multiple of `pad_multiple`
(2^depth of the U-Net; seed 000 pads to 64). Planes of different sizes (sagittal and coronal
slices of scans of different lengths) are either all padded to the largest size ("pad") or kept
in buckets of equal padded size, each batch drawn from one bucket ("bucket").

The padding rule, the same in training and at inference (slices, windows, blocks): image channels
are padded with the normalised value of empty space that `jaxseg.data.preprocess.normalize` gives
each channel (CT: the bottom of the window, air; z-score: where a raw 0 lands; none: 0), labels
with 0. Training reads it from the prepared case (`PreparedCase.pad_value`), inference from the
normalised image (`LoadedCase.pad_value`, `prepare_image`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from jaxseg.data.augment import SpatialAugmentation, warp
from jaxseg.data.cache import PreparedCase
from jaxseg.data.intensity import IntensityAugmentation
from jaxseg.io.volume import PLANE_NORMALS


def padded_size(size: int, multiple: int) -> int:
    """Smallest multiple of `multiple` that is >= size."""
    return -(-size // multiple) * multiple


def plane_stack(volume_array: np.ndarray, axis: int) -> np.ndarray:
    """View of a 3D array as a stack of 2D slices along `axis`: (S, H, W)."""
    return np.moveaxis(volume_array, axis, 0)


def pad_slices(stack: np.ndarray, height: int, width: int, value: float | np.ndarray) -> np.ndarray:
    """Pad (S, H, W[, C]) slices at the high end of each in-plane axis to (S, height, width[, C]) with
    `value` (one number, or one per channel (C,))."""
    padded = np.empty((stack.shape[0], height, width, *stack.shape[3:]), stack.dtype)
    padded[...] = value
    padded[:, : stack.shape[1], : stack.shape[2]] = stack
    return padded


class PlaneSlices:
    """Where slices of prepared cases (RAS axes) along a plane are, and the shape each is padded to.

    axis: the RAS axis normal to the plane. shapes[c]: (H, W) padded size of case c's slices, the
    in-plane axes in RAS order, as `plane_stack` lays them out. buckets[c]: its shape group.
    """

    def __init__(self, cases: Sequence[PreparedCase], plane: str, pad_multiple: int, shapes: str):
        self.cases = list(cases)
        self.axis = PLANE_NORMALS[plane]
        sizes = [[padded_size(s, pad_multiple) for a, s in enumerate(c.shape) if a != self.axis] for c in cases]
        if shapes == "pad":
            sizes = [np.max(sizes, axis=0).tolist()] * len(sizes)
        self.shapes = [tuple(int(s) for s in size) for size in sizes]
        distinct = sorted(set(self.shapes))
        self.buckets = np.array([distinct.index(s) for s in self.shapes], np.int64)

    def take(self, array: np.ndarray, index: int) -> np.ndarray:
        """Slice `index` of a RAS-ordered array (I, J, K, ...) along the plane: (H0, W0, ...)."""
        return array[(slice(None),) * self.axis + (index,)]

    def count(self, case: int) -> int:
        return self.cases[case].shape[self.axis]


class SliceSampler:
    """Every slice of every case along a plane, once per epoch.

    Sample: {"image": (H, W, C) float32, "label": (H, W) int32}, padded with the case's value of
    empty space and label 0, then augmented (one in-plane transform for image and label).
    skip_empty: leave out slices without foreground (seed 000's background-only slices).
    """

    def __init__(self, cases: Sequence[PreparedCase], plane: str, pad_multiple: int, shapes: str = "pad",
                 skip_empty: bool = False, spatial: SpatialAugmentation = SpatialAugmentation(),
                 intensity: IntensityAugmentation = IntensityAugmentation()):
        self.planes = PlaneSlices(cases, plane, pad_multiple, shapes)
        self.spatial, self.intensity = spatial, intensity
        rows = []
        for c, case in enumerate(cases):
            slices = np.arange(self.planes.count(c))
            if skip_empty:
                slices = slices[case.slice_counts(self.planes.axis)[1:].sum(axis=0) > 0]
            rows.append(np.column_stack([np.full(len(slices), c), slices]))
        self.elements = np.concatenate(rows).astype(np.int64)
        self.buckets = self.planes.buckets[self.elements[:, 0]]

    @property
    def sample_shapes(self) -> list[tuple[int, int]]:
        """The distinct spatial shapes of samples."""
        return sorted(set(self.planes.shapes))

    def sample(self, element: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
        c, index = int(element[0]), int(element[1])
        case = self.planes.cases[c]
        image = self.planes.take(case.image, index)
        label = self.planes.take(case.label, index)
        image, (label,) = warp(image, [label], np.zeros(2, int), self.planes.shapes[c], self.spatial, rng,
                               case.pad_value)
        return {"image": self.intensity(image, rng), "label": label.astype(np.int32)}
