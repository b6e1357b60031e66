"""Propagated slice pairs (seed 004): slice t, the label of a nearby slice as a prior, the label of t.

One binary object per sample: for a label value v of the configured list, a slice t holding v, and
an offset k with 1 <= |k| <= max_offset, the sample is
    image = [slice t channels, prior = (label of slice t + k == v)],  label = (label of slice t == v).
k is drawn among the offsets whose slice also holds v (any offset inside the volume when none
does). Image, prior and target share one spatial transform; the prior then gets its own rotation
and scaling about the slice centre (seed 004's best: +-1 degree, +-10 %), as propagation errors
do; intensity augmentation touches the image channels only.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from jaxseg.data.augment import SpatialAugmentation, turn_about_centre, warp
from jaxseg.data.cache import PreparedCase
from jaxseg.data.intensity import IntensityAugmentation
from jaxseg.data.slices import PlaneSlices


class PairSampler:
    """Every (case, label value, slice holding it) once per epoch.

    Sample: {"image": (H, W, C + 1) float32 (last channel: the prior, 0/1), "label": (H, W) int32
    (0/1)}, padded like `SliceSampler`'s slices.
    """

    prior_channels = 1  # the prior mask, after the image's channels

    def __init__(self, cases: Sequence[PreparedCase], plane: str, pad_multiple: int, classes: Sequence[int],
                 max_offset: int, prior_rotate_deg: float = 0.0, prior_scale: float = 0.0, shapes: str = "pad",
                 spatial: SpatialAugmentation = SpatialAugmentation(),
                 intensity: IntensityAugmentation = IntensityAugmentation()):
        self.planes = PlaneSlices(cases, plane, pad_multiple, shapes)
        self.max_offset, self.prior_rotate_deg, self.prior_scale = max_offset, prior_rotate_deg, prior_scale
        self.spatial, self.intensity = spatial, intensity
        rows = []
        for c, case in enumerate(cases):
            counts = case.slice_counts(self.planes.axis)
            for value in classes:
                if value >= len(counts):
                    raise ValueError(f"label value {value} is not a class of case {case.case_id} "
                                     f"({len(counts)} classes)")
                slices = np.flatnonzero(counts[value])
                rows.append(np.column_stack([np.full(len(slices), c), np.full(len(slices), value), slices]))
        self.elements = np.concatenate(rows).astype(np.int64) if rows else np.zeros((0, 3), np.int64)
        if not len(self.elements):
            raise ValueError(f"no slice of the {len(cases)} cases holds any of the label values {list(classes)}")
        self.buckets = self.planes.buckets[self.elements[:, 0]]

    @property
    def sample_shapes(self) -> list[tuple[int, int]]:
        return sorted(set(self.planes.shapes))

    def offset(self, case: PreparedCase, value: int, t: int, rng: np.random.Generator) -> int:
        """k: 1 <= |k| <= max_offset, t + k inside the volume, preferring slices that hold `value`."""
        counts = case.slice_counts(self.planes.axis)[value]
        candidates = [k for k in range(-self.max_offset, self.max_offset + 1) if k and 0 <= t + k < len(counts)]
        holding = [k for k in candidates if counts[t + k]]
        choices = holding or candidates
        return int(choices[rng.integers(len(choices))])

    def sample(self, element: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
        c, value, t = (int(e) for e in element)
        case = self.planes.cases[c]
        k = self.offset(case, value, t, rng)
        image = self.planes.take(case.image, t)
        target = (self.planes.take(case.label, t) == value).astype(np.uint8)
        prior = (self.planes.take(case.label, t + k) == value).astype(np.uint8)
        image, (target, prior) = warp(image, [target, prior], np.zeros(2, int), self.planes.shapes[c], self.spatial,
                                      rng, case.pad_value)
        angle = rng.uniform(-self.prior_rotate_deg, self.prior_rotate_deg)
        scale = 1 + rng.uniform(-self.prior_scale, self.prior_scale)
        if angle or scale != 1:
            prior = turn_about_centre(prior, angle, scale)
        image = self.intensity(image, rng)
        return {"image": np.concatenate([image, prior[..., None].astype(np.float32)], axis=-1),
                "label": target.astype(np.int32)}
