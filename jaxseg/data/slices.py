"""2D slices of loaded cases along an anatomical plane, as a grain pipeline of training batches."""

from __future__ import annotations

from collections.abc import Sequence

import grain
import numpy as np

from jaxseg.data.cases import LoadedCase

# Normalised intensity given to padding: the bottom of the window (air).
PAD_INTENSITY = -1.0


def padded_size(size: int, multiple: int) -> int:
    """Smallest multiple of `multiple` that is >= size."""
    return -(-size // multiple) * multiple


def plane_stack(volume_array: np.ndarray, axis: int) -> np.ndarray:
    """View of a 3D array as a stack of 2D slices along `axis`: (S, H, W)."""
    return np.moveaxis(volume_array, axis, 0)


def pad_slices(stack: np.ndarray, height: int, width: int, value: float) -> np.ndarray:
    """Pad (S, H, W) slices at the high end of each in-plane axis to (S, height, width)."""
    pad = ((0, 0), (0, height - stack.shape[1]), (0, width - stack.shape[2]))
    return np.pad(stack, pad, constant_values=value)


class SliceSource(grain.sources.RandomAccessDataSource):
    """Every slice of every case along one plane, padded to a common size.

    Element i is {"image": (H, W, 1) float32, "label": (H, W) int32}. H and W are the largest
    in-plane sizes among the cases, rounded up to `pad_multiple` (2^depth for a U-Net).
    """

    def __init__(self, cases: Sequence[LoadedCase], plane: str, pad_multiple: int):
        axes = [case.image.plane_axis(plane) for case in cases]
        stacks = [plane_stack(case.image.array, a) for case, a in zip(cases, axes)]
        label_stacks = [plane_stack(case.label.array, a) for case, a in zip(cases, axes)]
        height = padded_size(max(s.shape[1] for s in stacks), pad_multiple)
        width = padded_size(max(s.shape[2] for s in stacks), pad_multiple)
        self._images = np.concatenate([pad_slices(s, height, width, PAD_INTENSITY) for s in stacks])
        self._labels = np.concatenate([pad_slices(s, height, width, 0) for s in label_stacks])

    def __len__(self) -> int:
        return len(self._images)

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        return {"image": self._images[index][..., None], "label": self._labels[index].astype(np.int32)}

    @property
    def slice_shape(self) -> tuple[int, int]:
        return self._images.shape[1:3]


def training_batches(source: grain.sources.RandomAccessDataSource, batch_size: int, seed: int,
                     workers: int = 0, shard_index: int = 0,
                     shard_count: int = 1) -> grain.DatasetIterator:
    """An endless iterator of shuffled batches, deterministic from `seed`.

    Each epoch is a new permutation. With several hosts, host `shard_index` of `shard_count`
    receives every shard_count-th sample of the same global order, so `batch_size` here is the
    per-host batch. The iterator's `get_state()`/`set_state()` resume it exactly.
    """
    dataset = grain.MapDataset.source(source).shuffle(seed=seed).repeat()
    dataset = dataset[shard_index::shard_count].batch(batch_size, drop_remainder=True)
    iterable = dataset.to_iter_dataset()
    if workers > 0:
        iterable = iterable.mp_prefetch(grain.MultiprocessingOptions(num_workers=workers))
    return iter(iterable)
