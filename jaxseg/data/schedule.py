"""Endless, deterministic, resumable and sharded batches of samples, run by grain.

A sampler (slices, blocks, volumes, propagated pairs) lists the elements of one epoch, for example
(case, slice) pairs, groups them into buckets of equal sample shape, and turns one element and a
random generator into a sample. Here each epoch is a fresh permutation, from the seed and the
epoch number, of each bucket's elements, cut into full global batches whose order is shuffled too
(the last partial batch of a bucket waits for the next epoch's permutation). Each host assembles
only its slice of every global batch, so the union of the hosts' batches is the same whatever the
number of hosts, and the generator of a sample depends only on the seed, the global batch and the
sample's slot: results do not depend on worker or host counts. grain runs the assembly in worker
processes and records the position, so `get_state()`/`set_state()` resume exactly.
"""

from __future__ import annotations

import sys
from typing import Protocol

import grain
import numpy as np
from absl import flags

# Threads assembling batches per process (numpy and scipy release the GIL for much of the work)
# and batches buffered ahead of the consumer.
_THREADS, PREFETCH_BATCHES = 2, 4

# Domain tags keep the seed sequences of the schedule and of the samples apart.
_SCHEDULE, _SAMPLE = 0, 1


class Sampler(Protocol):
    """What the schedule needs of a sampler."""

    @property
    def elements(self) -> np.ndarray:
        """(N, k) int64: the elements of one epoch."""

    @property
    def buckets(self) -> np.ndarray:
        """(N,) int64: elements of one bucket give samples of one shape."""

    @property
    def sample_shapes(self) -> list[tuple[int, ...]]:
        """The distinct spatial shapes of its samples."""

    def sample(self, element: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """One sample; every random choice comes from `rng`."""


class GlobalBatches:
    """Global batch i of an endless sequence of epochs: (i, rows (B,) into the sampler's elements)."""

    def __init__(self, buckets: np.ndarray, batch_size: int, seed: int):
        self.batch_size, self.seed = batch_size, seed
        self._groups = [np.flatnonzero(buckets == b) for b in np.unique(buckets)]
        self.per_epoch = sum(len(g) // batch_size for g in self._groups)
        if self.per_epoch == 0:
            sizes = sorted(len(g) for g in self._groups)
            raise ValueError(f"the global batch of {batch_size} is larger than every group of samples of one "
                             f"shape (largest: {sizes[-1] if sizes else 0})")
        self._cached: tuple[int, np.ndarray] | None = None

    def __len__(self) -> int:
        return sys.maxsize // self.per_epoch * self.per_epoch

    def epoch(self, epoch: int) -> np.ndarray:
        """(batches per epoch, B) element rows of every global batch of `epoch`."""
        if self._cached is None or self._cached[0] != epoch:
            rng = np.random.default_rng([self.seed, _SCHEDULE, epoch])
            batches = []
            for group in self._groups:
                order = rng.permutation(group)
                full = len(order) // self.batch_size * self.batch_size
                batches.append(order[:full].reshape(-1, self.batch_size))
            batches = np.concatenate(batches)
            self._cached = (epoch, batches[rng.permutation(len(batches))])
        return self._cached[1]

    def __getitem__(self, index: int) -> tuple[int, np.ndarray]:
        epoch, position = divmod(int(index), self.per_epoch)
        return int(index), self.epoch(epoch)[position]


class HostBatch:
    """Assembles this host's part of a global batch: {name: (B / shard_count, ...)} arrays."""

    def __init__(self, sampler: Sampler, batch_size: int, seed: int, shard_index: int, shard_count: int):
        if batch_size % shard_count:
            raise ValueError(f"the global batch of {batch_size} does not split over {shard_count} hosts")
        self.sampler, self.seed = sampler, seed
        self.local = batch_size // shard_count
        self.first = shard_index * self.local

    def __call__(self, item: tuple[int, np.ndarray]) -> dict[str, np.ndarray]:
        index, rows = item
        samples = []
        for slot in range(self.first, self.first + self.local):
            rng = np.random.default_rng([self.seed, _SAMPLE, index, slot])
            samples.append(self.sampler.sample(self.sampler.elements[rows[slot]], rng))
        return {key: np.stack([s[key] for s in samples]) for key in samples[0]}


def batch_iterator(sampler: Sampler, batch_size: int, seed: int, workers: int = 0, shard_index: int = 0,
                   shard_count: int = 1) -> grain.DatasetIterator:
    """An endless iterator of this host's batches (batch_size / shard_count samples each).

    `batch_size` is the global batch. With `workers` > 0, grain worker processes assemble the
    batches; an error in a worker, or a worker that dies, is raised here rather than hanging.
    """
    schedule = GlobalBatches(sampler.buckets, batch_size, seed)
    dataset = grain.MapDataset.source(schedule).map(HostBatch(sampler, batch_size, seed, shard_index, shard_count))
    # A few batches in flight per process: grain's default buffer (500 elements, here batches) would
    # hold gigabytes of 512^2 or 96^3 batches in every worker.
    iterable = dataset.to_iter_dataset(grain.ReadOptions(num_threads=_THREADS, prefetch_buffer_size=PREFETCH_BATCHES))
    if workers > 0:
        # grain reads absl flags in its workers; programs that do not run absl.app have not parsed them.
        if not flags.FLAGS.is_parsed():
            flags.FLAGS.mark_as_parsed()
        iterable = iterable.mp_prefetch(grain.MultiprocessingOptions(num_workers=workers))
    return iter(iterable)
