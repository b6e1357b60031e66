"""Dataset indexes in the Medical Segmentation Decathlon and nnU-Net raw layouts, and their splits.

Decathlon (MSD): `dataset.json` with `labels` {"0": "background", ...}, `modality` and a `training`
list of {"image", "label"} paths; an image is one (possibly 4D, channels last) file, or, as nnU-Net
converts them, one file per channel named `<case>_0000.nii.gz`, `<case>_0001.nii.gz`, ...
nnU-Net v2 raw: `dataset.json` with `labels` {"background": 0, ...}, `channel_names`,
`file_ending` and no `training` list; cases are `labelsTr/<case><ending>` with channels
`imagesTr/<case>_<XXXX><ending>`.
jaxseg's extensions of a `training` entry: `image` may be a DICOM series folder, or a list of one
file per channel (as BraTS ships them; the case is then named after their folder), and `label` a
DICOM SEG or NRRD file; `case` names the case (default: the image file name without its ending);
`subject` groups cases of one person (several scans or contrasts), which always share a split.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from jaxseg.io import ReadError
from jaxseg.io.paths import inside, plain_name

if TYPE_CHECKING:
    from jaxseg.data.images2d import Reading2D


@dataclasses.dataclass(frozen=True)
class Case:
    """One labelled case: its identifier, its image files (one per channel, or one 4D file), its label
    file and the subject it belongs to (the case id unless the index says otherwise).

    reading: for a 2D case (one image file), how its files become channels and classes; None for volumes.
    """

    case_id: str
    images: tuple[Path, ...]
    label: Path
    subject: str
    reading: Reading2D | None = None


@dataclasses.dataclass(frozen=True)
class DatasetIndex:
    """The labelled cases of a dataset, the names of its label values and of its image channels."""

    root: Path
    cases: tuple[Case, ...]
    labels: dict[int, str]
    channels: tuple[str, ...]  # Modality per channel ("CT", "T2", ...); decides the normalisation.

    @property
    def num_classes(self) -> int:
        return max(self.labels) + 1


def _strip_ending(name: str, ending: str = "") -> str:
    for suffix in (ending, ".nii.gz", ".nii"):
        if suffix and name.endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem


def _channel_files(folder: Path, case_id: str, ending: str, count: int) -> tuple[Path, ...]:
    return tuple(folder / f"{case_id}_{c:04d}{ending}" for c in range(count))


def _check_files(paths: tuple[Path, ...], manifest: Path) -> None:
    for path in paths:
        if not path.exists():
            raise ReadError(path, f"listed in {manifest} but missing")


def _msd_cases(root: Path, manifest: Path, entries: list, num_channels: int) -> list[Case]:
    cases = []
    for entry in entries:
        try:
            image, label = entry["image"], inside(root, entry["label"], manifest, f"training entry {entry!r}: 'label'")
        except (KeyError, TypeError):
            raise ReadError(manifest, f"training entry {entry!r} lacks 'image' or 'label'") from None
        if isinstance(image, list):  # One file per channel, in the order of `modality`.
            images = tuple(inside(root, path, manifest, f"training entry {entry!r}: 'image'") for path in image)
            if len(images) != num_channels:
                raise ReadError(manifest, f"training entry {entry!r} lists {len(images)} channel files, "
                                f"'modality' declares {num_channels}")
            stem = images[0].parent.name
        else:
            image = inside(root, image, manifest, f"training entry {entry!r}: 'image'")
            stem = _strip_ending(image.name)
            # nnU-Net's converted Decathlon sets keep the MSD dataset.json but split the channels.
            split = _channel_files(image.parent, stem, image.name[len(stem):], num_channels)
            images = (image,) if image.exists() or not split[0].is_file() else split
        _check_files((*images, label), manifest)
        case_id = plain_name(str(entry.get("case", stem)), manifest, f"training entry {entry!r}: case id")
        cases.append(Case(case_id, images, label, str(entry.get("subject", case_id))))
    return cases


def _nnunet_cases(root: Path, manifest: Path, ending: str, num_channels: int) -> list[Case]:
    labels_dir = root / "labelsTr"
    if not labels_dir.is_dir():
        raise ReadError(root, "no labelsTr/ folder: expected the nnU-Net raw layout")
    cases = []
    for label in sorted(labels_dir.glob(f"*{ending}")):
        case_id = label.name[: -len(ending)]
        images = _channel_files(root / "imagesTr", case_id, ending, num_channels)
        _check_files(images, manifest)
        cases.append(Case(case_id, images, label, case_id))
    return cases


def _labels(raw: dict, manifest: Path) -> dict[int, str]:
    if all(isinstance(v, str) for v in raw.values()):  # MSD: {"0": "background"}
        return {int(k): str(v) for k, v in raw.items()}
    if all(isinstance(v, int) for v in raw.values()):  # nnU-Net v2: {"background": 0}
        return {int(v): str(k) for k, v in raw.items()}
    raise ReadError(manifest, "region-based labels (lists of values) are not supported; give one value per label")


def read_msd_index(root: str | os.PathLike) -> DatasetIndex:
    """Read `root/dataset.json` (Decathlon or nnU-Net v2 raw); every case's files must exist."""
    root = Path(root)
    manifest = root / "dataset.json"
    if not manifest.is_file():
        raise ReadError(root, "no dataset.json: expected the Medical Segmentation Decathlon or nnU-Net raw layout")
    try:
        description = json.loads(manifest.read_text())
        labels = _labels(description["labels"], manifest)
        modalities = description.get("channel_names", description.get("modality", {"0": "unknown"}))
        channels = tuple(str(modalities[k]) for k in sorted(modalities, key=int))
    except (json.JSONDecodeError, KeyError, ValueError, TypeError, AttributeError) as err:
        raise ReadError(manifest, f"not a valid Decathlon/nnU-Net dataset.json ({type(err).__name__}: {err})") from None
    if sorted(labels) != list(range(len(labels))):
        raise ReadError(manifest, f"label values must be 0..N-1, got {sorted(labels)}")
    if "training" in description:
        cases = _msd_cases(root, manifest, description["training"], len(channels))
    else:
        cases = _nnunet_cases(root, manifest, str(description.get("file_ending", ".nii.gz")), len(channels))
    if not cases:
        raise ReadError(manifest, "lists no training cases")
    ids = [c.case_id for c in cases]
    if len(set(ids)) != len(ids):
        raise ReadError(manifest, "lists a case id more than once")
    return DatasetIndex(root, tuple(cases), labels, channels)


def split_cases(cases: tuple[Case, ...], num_val: int, num_test: int, seed: int, folds: int = 0,
                fold: int = 0) -> dict[str, tuple[Case, ...]]:
    """Deterministic split into 'train', 'val' and 'test' by subject, from a seed.

    Subjects are shuffled by `seed`. Without folds, the first `num_test` are the test split and the
    next `num_val` validate. With `folds` = k, the shuffled subjects are cut into k near-equal folds,
    fold `fold` is the test split, and `num_val` subjects of the others validate. The test cases
    are held out from training and validation; validation picks the best checkpoint.
    """
    subjects = list(dict.fromkeys(c.subject for c in cases))
    order = [subjects[i] for i in np.random.default_rng(seed).permutation(len(subjects))]
    if folds:
        if folds > len(subjects):
            raise ValueError(f"cannot cut {len(subjects)} subjects into {folds} folds")
        test = set(np.array_split(np.array(order, dtype=object), folds)[fold])
        rest = [s for s in order if s not in test]
    else:
        test, rest = set(order[:num_test]), order[num_test:]
    if num_val >= len(rest):
        raise ValueError(f"holding out {num_val} validation and {len(test)} test subjects of {len(subjects)} "
                         "leaves none to train on")
    val = set(rest[:num_val])
    group = lambda chosen: tuple(sorted((c for c in cases if c.subject in chosen), key=lambda c: c.case_id))  # noqa: E731
    return {"train": group(set(rest[num_val:])), "val": group(val), "test": group(test)}
