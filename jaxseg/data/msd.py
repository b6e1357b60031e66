"""Datasets in the Medical Segmentation Decathlon layout (`dataset.json`, `imagesTr/`, `labelsTr/`)."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np

from jaxseg.io import ReadError


@dataclasses.dataclass(frozen=True)
class Case:
    """One labelled case: an identifier and the paths of its image and label files."""

    case_id: str
    image: Path
    label: Path


@dataclasses.dataclass(frozen=True)
class DatasetIndex:
    """The labelled cases of a dataset and the names of its label values."""

    root: Path
    cases: tuple[Case, ...]
    labels: dict[int, str]

    @property
    def num_classes(self) -> int:
        return max(self.labels) + 1


def _case_id(path: str) -> str:
    name = Path(path).name
    for suffix in (".nii.gz", ".nii"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem


def read_msd_index(root: str | os.PathLike) -> DatasetIndex:
    """Read `root/dataset.json`; every listed image and label must exist (ReadError otherwise)."""
    root = Path(root)
    manifest = root / "dataset.json"
    if not manifest.is_file():
        raise ReadError(root, "no dataset.json: expected the Medical Segmentation Decathlon layout")
    try:
        description = json.loads(manifest.read_text())
        labels = {int(k): str(v) for k, v in description["labels"].items()}
        entries = description["training"]
    except (json.JSONDecodeError, KeyError, ValueError, TypeError, AttributeError) as err:
        raise ReadError(manifest, f"not a valid Decathlon dataset.json ({type(err).__name__}: {err})") from None
    if sorted(labels) != list(range(len(labels))):
        raise ReadError(manifest, f"label values must be 0..N-1, got {sorted(labels)}")
    cases = []
    for entry in entries:
        try:
            image, label = root / entry["image"], root / entry["label"]
        except (KeyError, TypeError):
            raise ReadError(manifest, f"training entry {entry!r} lacks 'image' or 'label'") from None
        for path in (image, label):
            if not path.is_file():
                raise ReadError(path, f"listed in {manifest} but missing")
        cases.append(Case(_case_id(entry["image"]), image, label))
    if not cases:
        raise ReadError(manifest, "lists no training cases")
    return DatasetIndex(root, tuple(cases), labels)


def split_cases(cases: tuple[Case, ...], num_val: int, num_test: int, seed: int) -> dict[str, tuple[Case, ...]]:
    """Deterministic split into 'train', 'val' and 'test' by case, from a seed.

    The test cases are held out from training and validation; validation picks the best checkpoint.
    """
    if num_val + num_test >= len(cases):
        raise ValueError(f"cannot hold out {num_val} validation and {num_test} test cases of {len(cases)}")
    order = np.random.default_rng(seed).permutation(len(cases))
    shuffled = [cases[i] for i in order]
    test = shuffled[:num_test]
    val = shuffled[num_test : num_test + num_val]
    train = shuffled[num_test + num_val :]
    by_id = lambda group: tuple(sorted(group, key=lambda c: c.case_id))  # noqa: E731
    return {"train": by_id(train), "val": by_id(val), "test": by_id(test)}
