"""Opening the dataset a config names: its folder, its index, its split, its prepared cache."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import ml_collections
import numpy as np

from jaxseg.config import PLANAR_SOURCES, ConfigError
from jaxseg.data.cases import LoadedCase, read_case
from jaxseg.data.dicom_folders import read_dicom_folders
from jaxseg.data.folders import read_dsb2018, read_image_folders
from jaxseg.data.images2d import COLOURS
from jaxseg.data.msd import Case, DatasetIndex, read_msd_index
from jaxseg.data.prepare import PrepareSummary, cache_folder, cache_root, prepare_cases
from jaxseg.data.preprocess import Preprocessing, normalize
from jaxseg.data.splits import config_split
from jaxseg.data.synthetic import write_phantom_dataset
from jaxseg.io import ReadError, Volume

log = logging.getLogger(__name__)


def required_root(config: ml_collections.ConfigDict, what: str) -> Path:
    """`data.root` as an existing folder; ConfigError saying to set it (configs name no default
    location: each says in its docstring which data it reads). `what` says what the folder holds."""
    set_it = f"set data.root (--config.data.root=FOLDER; jaxseg evaluate: --data FOLDER) to {what}"
    if not config.data.root:
        raise ConfigError(f"{set_it}: config '{config.name}' reads a dataset and its 'data.root' is empty")
    root = Path(config.data.root)
    if not root.is_dir():
        raise ConfigError(f"{set_it}: config key 'data.root' = {str(root)!r} is not a folder")
    return root


def dataset_root(config: ml_collections.ConfigDict, workdir: str | Path) -> Path:
    """The dataset folder; for `data.source = "phantom"`, generated there first if absent."""
    if config.data.source == "phantom":
        root = Path(config.data.root) if config.data.root else Path(workdir) / "phantom"
        p = config.phantom
        if not (root / "dataset.json").exists():
            log.info("generating %d phantom cases in %s", p.num_cases, root)
        return write_phantom_dataset(root, p.num_cases, tuple(p.shape), tuple(p.spacing_mm), p.seed)
    return required_root(config, f"the dataset folder ('data.source' = {config.data.source!r})")


def read_index(config: ml_collections.ConfigDict, workdir: str | Path) -> DatasetIndex:
    """The index of the dataset `data.source` names (for folder layouts, per the `layout` section)."""
    root, layout, source = dataset_root(config, workdir), config.layout, config.data.source
    if source == "image_folders":
        return read_image_folders(root, layout, config.model.num_classes)
    if source == "dsb2018":
        return read_dsb2018(root, layout)
    if source == "dicom_folders":
        return read_dicom_folders(root, layout.label_name, tuple(layout.class_names), config.model.num_classes)
    return read_msd_index(root)


def open_dataset(config: ml_collections.ConfigDict, workdir: str | Path,
                 same_classes: bool = True) -> tuple[DatasetIndex, dict[str, tuple[Case, ...]]]:
    """The dataset index and its train/val/test split; with `same_classes`, ConfigError unless the
    model predicts the dataset's classes (a propagation model segments one object at a time)."""
    index = read_index(config, workdir)
    if same_classes and index.num_classes != config.model.num_classes:
        raise ConfigError(
            f"config key 'model.num_classes' = {config.model.num_classes} but the dataset at {index.root} "
            f"defines {index.num_classes} labels {index.labels}"
        )
    return index, config_split(config, index.cases)


def preprocessing(config: ml_collections.ConfigDict, index: DatasetIndex) -> Preprocessing:
    return Preprocessing.from_config(config, index.channels, index.num_classes)


def prepare_dataset(config: ml_collections.ConfigDict, workdir: str | Path | None, index: DatasetIndex,
                    cases: Sequence[Case] | None = None, progress: bool = False) -> PrepareSummary:
    """Prepare `cases` (default: every case of the index) in the config's cache folder."""
    settings = preprocessing(config, index)
    folder = cache_folder(config, workdir, index, settings)
    return prepare_cases(index.cases if cases is None else cases, folder, settings, len(index.channels),
                         config.prepare.on_error, progress, config.io.max_voxels)


def prepare_all(config: ml_collections.ConfigDict, workdir: str | Path | None,
                progress: bool = False) -> PrepareSummary:
    """`jaxseg prepare`: every case of the config's dataset into its cache (data.cache_dir, else WORKDIR/prepared)."""
    cache_root(config, workdir)  # Before a phantom dataset is generated anywhere.
    index, _ = open_dataset(config, workdir, same_classes=False)  # Preparing does not depend on the model.
    return prepare_dataset(config, workdir, index, progress=progress)


def _model_image(image: Volume, settings: Preprocessing) -> tuple[Volume, tuple[float, ...]]:
    """RAS axes, normalised like the prepared cache; (I, J, K) for one channel (what `jaxseg.inference`
    takes), else (I, J, K, C); and the normalised value of empty space per channel (its padding)."""
    image = image.as_canonical()
    array = image.array if image.array.ndim == 4 else image.array[..., None]
    normalised, pads = normalize(array.astype(np.float32, copy=False), settings)
    return Volume(normalised[..., 0] if normalised.shape[-1] == 1 else normalised, image.affine, image.source), pads


def input_channels(config: ml_collections.ConfigDict, count: int) -> tuple[str, ...]:
    """The channel names a config's training data had, for an input image of `count` channels: the
    2D sources' colour channels, else CT (so `data.normalize = auto` windows it as CT)."""
    if config.data.source in PLANAR_SOURCES:
        return COLOURS[config.layout.colour]
    return ("CT",) * count


def prepare_image(image: Volume, config: ml_collections.ConfigDict) -> tuple[Volume, tuple[float, ...]]:
    """An image read for prediction, as the model saw its training images (see `load_cases`), and the
    value of empty space per channel (for padding).

    With `data.normalize = auto` every channel of a volume is taken as CT: set it explicitly for
    other modalities. NaN or infinite values raise ReadError naming `image.source`, as in `prepare`.
    """
    if not np.all(np.isfinite(image.array)):
        raise ReadError(image.source, "image holds NaN or infinite values")
    channels = input_channels(config, image.array.shape[-1] if image.array.ndim == 4 else 1)
    return _model_image(image, Preprocessing.from_config(config, channels, config.model.num_classes))


def load_cases(cases: Sequence[Case], config: ml_collections.ConfigDict, index: DatasetIndex,
               failed: list[dict] | None = None, name: str = "cases") -> list[LoadedCase]:
    """Read cases into memory for validation and evaluation: RAS axes, normalised as `prepare` does,
    on their own grid (no crop or resampling, so predictions map back onto the files; inference
    resizes slices to `prepare.slice_size` itself).

    The image is (I, J, K) for a single channel, else (I, J, K, C).
    A case that cannot be read is skipped with a logged error and appended to `failed` as
    {"case_id", "file", "reason"}, or raises with `prepare.on_error = "fail"`. When there are cases
    but none can be read, raises ValueError naming `name` (such as "validation cases") and each failure.
    """
    settings = preprocessing(config, index)
    loaded, problems = [], []
    for case in cases:
        try:
            raw = read_case(case, index.num_classes, len(index.channels), config.io.max_voxels)
        except ReadError as err:
            if config.prepare.on_error == "fail":
                raise
            log.error("case %s skipped: %s", case.case_id, err)
            problems.append({"case_id": case.case_id, "file": err.path, "reason": err.problem})
            continue
        image, pads = _model_image(raw.image, settings)
        loaded.append(LoadedCase(case.case_id, image, raw.label, pads, raw.spacing_unit))
    if cases and not loaded:
        listing = "; ".join(f"{p['case_id']} ({p['file']}: {p['reason']})" for p in problems)
        raise ValueError(f"none of the {len(cases)} {name} of {index.root} can be read: {listing}")
    if failed is not None:
        failed.extend(problems)
    return loaded
