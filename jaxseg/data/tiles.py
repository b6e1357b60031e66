"""Overlap-tile training windows for valid-padding U-Nets (Ronneberger et al. 2015, seed 003).

A valid-padding network maps an input tile of `tile_in` pixels to the centre `tile_out` of it; the
border it consumes, (tile_in - tile_out) / 2 per side, is filled at the image's edges by mirroring
the image, as the original U-Net extrapolates missing context. Labels are cut with the image (and
mirrored alike); the train step compares the network's output with their centre.
"""

from __future__ import annotations

import numpy as np

from jaxseg.data.schedule import Sampler


def mirror_pad(array: np.ndarray, before: tuple[int, int], after: tuple[int, int]) -> np.ndarray:
    """Mirror (H, W[, C]) by `before` and `after` pixels along H and W (numpy's "reflect": the edge
    pixel is not repeated)."""
    pad = [(before[0], after[0]), (before[1], after[1])] + [(0, 0)] * (array.ndim - 2)
    return np.pad(array, pad, mode="reflect")


class OverlapTileSampler:
    """A 2D sampler's samples cut into tiles: {"image": (tile_in, tile_in, C), "label": (tile_in, tile_in)}.

    The output window (tile_out x tile_out) is placed uniformly at random inside the slice (by the
    sample's rng), so every pixel of a slice larger than the window is trained on over the epochs.
    """

    def __init__(self, sampler: Sampler, tile_in: int, tile_out: int):
        if (tile_in - tile_out) % 2 or tile_out > tile_in:
            raise ValueError(f"a tile of {tile_in} with output {tile_out} has no whole border")
        self.sampler, self.tile_in, self.tile_out = sampler, tile_in, tile_out
        self.border = (tile_in - tile_out) // 2

    @property
    def elements(self) -> np.ndarray:
        return self.sampler.elements

    @property
    def buckets(self) -> np.ndarray:
        return np.zeros(len(self.sampler.elements), np.int64)  # every tile has one shape

    @property
    def sample_shapes(self) -> list[tuple[int, int]]:
        return [(self.tile_in, self.tile_in)]

    def sample(self, element: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
        sample = self.sampler.sample(element, rng)
        height, width = sample["label"].shape
        starts = [int(rng.integers(0, max(size - self.tile_out, 0) + 1)) for size in (height, width)]
        after = [self.border + max(self.tile_out - size, 0) for size in (height, width)]
        window = tuple(slice(start, start + self.tile_in) for start in starts)
        image = mirror_pad(sample["image"], (self.border,) * 2, tuple(after))[window]
        label = mirror_pad(sample["label"], (self.border,) * 2, tuple(after))[window]
        return {"image": np.ascontiguousarray(image), "label": np.ascontiguousarray(label)}
