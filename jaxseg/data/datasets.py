"""Opening the dataset a config names: its folder, its index, its split."""

from __future__ import annotations

import logging
from pathlib import Path

import ml_collections

from jaxseg.config import ConfigError
from jaxseg.data.cases import LoadedCase, load_case
from jaxseg.data.msd import Case, DatasetIndex, read_msd_index, split_cases
from jaxseg.data.synthetic import write_phantom_dataset

log = logging.getLogger(__name__)


def dataset_root(config: ml_collections.ConfigDict, workdir: str | Path) -> Path:
    """The dataset folder; for `data.source = "phantom"`, generated there first if absent."""
    if config.data.source == "phantom":
        root = Path(config.data.root) if config.data.root else Path(workdir) / "phantom"
        p = config.phantom
        if not (root / "dataset.json").exists():
            log.info("generating %d phantom cases in %s", p.num_cases, root)
        return write_phantom_dataset(root, p.num_cases, tuple(p.shape), tuple(p.spacing_mm), p.seed)
    if not config.data.root:
        raise ConfigError("config key 'data.root' is empty: set it to a Decathlon-layout dataset folder")
    return Path(config.data.root)


def open_dataset(config: ml_collections.ConfigDict, workdir: str | Path) -> tuple[DatasetIndex, dict[str, tuple[Case, ...]]]:
    """The dataset index and its train/val/test split; checks it against the model config."""
    index = read_msd_index(dataset_root(config, workdir))
    if index.num_classes != config.model.num_classes:
        raise ConfigError(
            f"config key 'model.num_classes' = {config.model.num_classes} but {index.root}/dataset.json "
            f"defines {index.num_classes} labels {index.labels}"
        )
    if config.data.num_val + config.data.num_test >= len(index.cases):
        raise ConfigError(
            f"config keys 'data.num_val' + 'data.num_test' = {config.data.num_val + config.data.num_test} "
            f"leave no training case among the {len(index.cases)} cases of {index.root}"
        )
    splits = split_cases(index.cases, config.data.num_val, config.data.num_test, config.data.split_seed)
    return index, splits


def load_cases(cases: tuple[Case, ...], config: ml_collections.ConfigDict) -> list[LoadedCase]:
    """Load every case of a split (normalised, RAS axes)."""
    return [load_case(case, tuple(config.data.clip_hu), config.model.num_classes) for case in cases]
