"""The training input a config describes: prepared cases, the `data.sampler`, augmentation, batches."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path

import grain
import ml_collections
import numpy as np

from jaxseg.config import ConfigError
from jaxseg.data.augment import DeviceCrop, SpatialAugmentation
from jaxseg.data.blocks import BlockSampler, VolumeSampler
from jaxseg.data.cache import PreparedCase
from jaxseg.data.datasets import prepare_dataset
from jaxseg.data.device_augment import DeviceAugmentation, block_margin
from jaxseg.data.intensity import IntensityAugmentation
from jaxseg.data.msd import Case, DatasetIndex
from jaxseg.data.pairs import PairSampler
from jaxseg.data.prepare import PrepareSummary, open_prepared
from jaxseg.data.schedule import Sampler, batch_iterator
from jaxseg.data.slices import SliceSampler
from jaxseg.data.tiles import OverlapTileSampler
from jaxseg.models import overlap_tile

log = logging.getLogger(__name__)

VOLUME_SAMPLERS = ("blocks", "volumes")  # 3D samples (X, Y, Z); the others give 2D slices (H, W)


@dataclasses.dataclass
class TrainingData:
    """The configured sampler over the prepared training cases."""

    sampler: Sampler
    cases: list[PreparedCase]
    prepared: PrepareSummary
    name: str
    device_augmentation: DeviceAugmentation | None = None  # With augment.device: the batches' other half.

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """Spatial shape of the (first bucket's) samples: (H, W) or (X, Y, Z)."""
        return tuple(self.sampler.sample_shapes[0])

    @property
    def description(self) -> str:
        shapes = ", ".join("x".join(map(str, s)) for s in self.sampler.sample_shapes)
        return (f"{len(self.sampler.elements)} {self.name} samples per epoch of shape {shapes} from "
                f"{len(self.cases)} prepared cases in {self.prepared.folder}")

    def batches(self, batch_size: int, seed: int, workers: int = 0, shard_index: int = 0,
                shard_count: int = 1) -> grain.DatasetIterator:
        """Endless batches of `batch_size` samples for this host (host `shard_index` of `shard_count`).

        With `device_augmentation`, the samples are blocks grown by its margin, to be augmented by it.

        The hosts' batches together make the global batch of batch_size x shard_count samples, the
        same whatever the host and worker counts; `get_state()`/`set_state()` resume exactly.
        """
        try:
            return batch_iterator(self.sampler, batch_size * shard_count, seed, workers, shard_index, shard_count)
        except ValueError as err:
            raise ConfigError(f"config key 'data.batch_size' does not fit the {self.name} samples: {err}") from None


def build_sampler(config: ml_collections.ConfigDict, cases: Sequence[PreparedCase], pad_multiple: int) -> Sampler:
    """The sampler `data.sampler` names, over prepared cases; ConfigError naming the key that does not fit."""
    s, d = config.sampling, config.data
    spatial = SpatialAugmentation.from_config(config.augment)
    intensity = IntensityAugmentation.from_config(config.augment)
    if d.sampler == "slices":
        sampler = SliceSampler(cases, d.plane, pad_multiple, s.slice_shapes, s.skip_empty_slices, spatial, intensity)
        tile = overlap_tile(config.model, s.tile_size)
        return OverlapTileSampler(sampler, *tile[:2]) if tile else sampler
    if d.sampler == "volumes":
        return VolumeSampler(cases, pad_multiple, spatial, intensity)
    if d.sampler == "blocks":
        block = tuple(s.block_shape)
        if any(b % pad_multiple for b in block):
            raise ConfigError(f"config key 'sampling.block_shape' = {block} must be multiples of {pad_multiple} "
                              "(2^depth of 'model.features')")
        try:
            return BlockSampler(cases, block, s.blocks_per_case, s.foreground_fraction, s.class_balanced,
                                spatial, intensity)
        except ValueError as err:
            raise ConfigError(f"config key 'sampling.block_shape' = {block} is impossible: {err}; choose a smaller "
                              "block or a coarser 'prepare.spacing_mm'") from None
    classes = tuple(s.pair_classes) or tuple(range(1, len(cases[0].class_voxels)))
    try:
        return PairSampler(cases, d.plane, pad_multiple, classes, s.pair_max_offset, config.augment.prior_rotate_deg,
                           config.augment.prior_scale, s.slice_shapes, spatial, intensity)
    except ValueError as err:
        raise ConfigError(f"config key 'sampling.pair_classes' = {classes} is impossible: {err}") from None


def training_data(config: ml_collections.ConfigDict, workdir: str | Path | None, index: DatasetIndex,
                  cases: Sequence[Case], pad_multiple: int) -> TrainingData:
    """Prepare `cases` if needed (idempotent), open them from the cache and build the sampler.

    pad_multiple: every spatial sample size is a multiple of it (2^depth of the U-Net).
    """
    summary = prepare_dataset(config, workdir, index, cases)
    prepared = open_prepared(cases, summary.folder)
    if not prepared:
        raise ConfigError(f"none of the {len(cases)} training cases could be prepared: see "
                          f"{summary.folder}/summary.json")
    if summary.failed:
        log.error("training without %d case(s) that could not be prepared: %s", len(summary.failed),
                  ", ".join(summary.failed))
    sampler = build_sampler(config, prepared, pad_multiple)
    prior = getattr(sampler, "prior_channels", 0)  # pairs: a prior mask beside the image's channels
    channels = prepared[0].meta["channels"] + prior
    if config.model.in_channels != channels:
        raise ConfigError(f"config key 'model.in_channels' = {config.model.in_channels} but the {config.data.sampler} "
                          f"samples of {index.root} have {channels} channels"
                          + (" (the image's and the prior)" if prior else ""))
    device = ship_for_device(sampler, prepared, config) if config.augment.device else None
    return TrainingData(sampler, prepared, summary, config.data.sampler, device)


def ship_for_device(sampler: Sampler, cases: Sequence[PreparedCase],
                    config: ml_collections.ConfigDict) -> DeviceAugmentation:
    """Turn `sampler`'s CPU augmentation into a margin crop and return the device augmentation that
    completes it (one margin, for the largest sample shape, so one compiled function serves all)."""
    spatial = SpatialAugmentation.from_config(config.augment)
    largest = tuple(int(s) for s in np.max(sampler.sample_shapes, axis=0))
    margin = block_margin(largest, spatial, config.mesh.spatial)
    sampler.spatial, sampler.intensity = DeviceCrop(margin), IntensityAugmentation()
    onehot_values = len(cases[0].class_voxels) if spatial.label_interpolation == "onehot" else 0
    return DeviceAugmentation(spatial, IntensityAugmentation.from_config(config.augment), margin, onehot_values)
