"""3D samples of prepared cases: random blocks with foreground oversampling, or whole volumes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from jaxseg.data.augment import SpatialAugmentation, warp
from jaxseg.data.cache import PreparedCase
from jaxseg.data.intensity import IntensityAugmentation
from jaxseg.data.slices import padded_size


class BlockSampler:
    """`blocks_per_case` random blocks of every case per epoch (seed 000: 50 blocks of 96^3 per scan).

    A block is centred on a foreground voxel with probability `foreground_fraction` (nnU-Net: 0.33),
    else placed uniformly; either way it lies inside the volume (a foreground voxel near an edge is
    off-centre), as nnU-Net does. The foreground voxel comes from the locations stored by `prepare`:
    its class is drawn in proportion to the class's volume (every foreground voxel equally likely)
    or, with `class_balanced`, uniformly among the classes present. Cases without foreground give
    uniform blocks. Sample: {"image": (X, Y, Z, C) float32, "label": (X, Y, Z) int32}, RAS axes.
    """

    def __init__(self, cases: Sequence[PreparedCase], block_shape: tuple[int, int, int], blocks_per_case: int,
                 foreground_fraction: float, class_balanced: bool = False,
                 spatial: SpatialAugmentation = SpatialAugmentation(),
                 intensity: IntensityAugmentation = IntensityAugmentation()):
        self.cases = list(cases)
        self.block = tuple(int(b) for b in block_shape)
        for case in self.cases:
            if any(b > s for b, s in zip(self.block, case.shape)):
                raise ValueError(f"block {self.block} is larger than case {case.case_id}'s volume {case.shape}")
        self.foreground_fraction, self.class_balanced = foreground_fraction, class_balanced
        self.spatial, self.intensity = spatial, intensity
        self.elements = np.stack(np.meshgrid(np.arange(len(self.cases)), np.arange(blocks_per_case),
                                             indexing="ij"), axis=-1).reshape(-1, 2).astype(np.int64)
        self.buckets = np.zeros(len(self.elements), np.int64)

    @property
    def sample_shapes(self) -> list[tuple[int, ...]]:
        return [self.block]

    def _foreground_voxel(self, case: PreparedCase, rng: np.random.Generator) -> np.ndarray | None:
        voxels = case.class_voxels[1:].astype(float)
        if not voxels.any():
            return None
        weights = (voxels > 0) if self.class_balanced else voxels
        value = 1 + rng.choice(len(weights), p=weights / weights.sum())
        locations = case.locations  # Rows sorted by class.
        first, end = np.searchsorted(locations[:, 0], [value, value + 1])
        return locations[first + rng.integers(end - first), 1:]

    def origin(self, case: PreparedCase, rng: np.random.Generator) -> np.ndarray:
        """The block's first voxel: around a foreground voxel, or uniform; always inside the volume."""
        high = np.asarray(case.shape) - self.block
        voxel = self._foreground_voxel(case, rng) if rng.random() < self.foreground_fraction else None
        if voxel is None:
            return np.array([rng.integers(h + 1) for h in high])
        return np.clip(voxel - np.asarray(self.block) // 2, 0, high)

    def sample(self, element: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
        case = self.cases[int(element[0])]
        image, (label,) = warp(case.image, [case.label], self.origin(case, rng), self.block, self.spatial, rng,
                               case.pad_value)
        return {"image": self.intensity(image, rng), "label": label.astype(np.int32)}


class VolumeSampler:
    """Each whole case once per epoch (seed 001), padded at the high end of each axis to a common
    shape: the largest case, rounded up to a multiple of `pad_multiple`.

    Sample: {"image": (X, Y, Z, C) float32, "label": (X, Y, Z) int32}.
    """

    def __init__(self, cases: Sequence[PreparedCase], pad_multiple: int,
                 spatial: SpatialAugmentation = SpatialAugmentation(),
                 intensity: IntensityAugmentation = IntensityAugmentation()):
        self.cases = list(cases)
        self.shape = tuple(padded_size(int(s), pad_multiple) for s in np.max([c.shape for c in self.cases], axis=0))
        self.spatial, self.intensity = spatial, intensity
        self.elements = np.arange(len(self.cases), dtype=np.int64)[:, None]
        self.buckets = np.zeros(len(self.cases), np.int64)

    @property
    def sample_shapes(self) -> list[tuple[int, ...]]:
        return [self.shape]

    def sample(self, element: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
        case = self.cases[int(element[0])]
        image, (label,) = warp(case.image, [case.label], np.zeros(3, int), self.shape, self.spatial, rng,
                               case.pad_value)
        return {"image": self.intensity(image, rng), "label": label.astype(np.int32)}
