"""Dataset index of a folder tree of DICOM series, found without a dataset.json (`data.source = "dicom_folders"`).

The naming rule: every folder under ROOT that directly holds DICOM image files is one case's
series (read with `jaxseg.io.read_dicom_series`); its label is the file named `layout.label_name`
(default "label") in that folder: label.nii.gz, label.nii or label.nrrd (a label map on the
series' grid) or label.dcm (a DICOM SEG, label value n = segment n). For example

    ROOT/patient01/ct_2019/{0001.dcm, 0002.dcm, ..., label.nii.gz}   -> case patient01_ct_2019
    ROOT/patient02/{IM0001, IM0002, ..., label.dcm}                  -> case patient02

The case id is the folder's path under ROOT with "/" replaced by "_"; the subject is the first
folder under ROOT, so the series of one patient share a split. A series folder must not hold other
series in sub-folders. A series without its label file is a ReadError naming the folder. DICOM
files are recognised by their 'DICM' marker, whatever their names.
"""

from __future__ import annotations

import os
from pathlib import Path

from jaxseg.data.folders import class_labels
from jaxseg.data.msd import Case, DatasetIndex
from jaxseg.io import ReadError
from jaxseg.io.dicom_dataset import is_dicom_file, read_dataset
from jaxseg.io.dicom_series import SEGMENTATION_STORAGE

LABEL_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".dcm")


def _series_files(folder: Path, label_files: set[Path]) -> list[Path]:
    return [p for p in sorted(folder.iterdir()) if p.is_file() and not p.name.startswith(".")
            and p not in label_files and is_dicom_file(p)]


def read_dicom_folders(root: str | os.PathLike, label_name: str, class_names: tuple[str, ...],
                       num_classes: int) -> DatasetIndex:
    """Every DICOM series folder under `root` with its label (see the module docstring).

    Channels: the series' Modality, which must be the same for every case (it decides the
    normalisation). Classes: `class_names`, else background, class_1, ... up to `num_classes`.
    """
    root = Path(root)
    if not root.is_dir():
        raise ReadError(root, "no such folder of DICOM series")
    cases, modalities = [], {}
    for folder, _, _ in sorted(os.walk(root)):
        folder = Path(folder)
        labels = [p for p in (folder / f"{label_name}{suffix}" for suffix in LABEL_SUFFIXES) if p.is_file()]
        series = _series_files(folder, set(labels))
        header = read_dataset(series[0], pixels=False) if series else None
        if header is None or header.get("SOPClassUID") == SEGMENTATION_STORAGE:
            continue  # No images here (or only segmentations).
        if len(labels) != 1:
            found = ", ".join(p.name for p in labels) or "none"
            raise ReadError(folder, f"DICOM series needs one label file {label_name}"
                                    f"{{{','.join(LABEL_SUFFIXES)}}} in its folder, found {found}")
        relative = folder.relative_to(root).parts or (root.name,)
        case_id = "_".join(relative)
        modalities[case_id] = str(header.get("Modality", "")) or "unknown"
        cases.append(Case(case_id, (folder,), labels[0], relative[0]))
    if not cases:
        raise ReadError(root, "no folder holds DICOM image files")
    if len(set(modalities.values())) > 1:
        raise ReadError(root, f"series of different modalities {sorted(set(modalities.values()))}: one dataset "
                              "is normalised one way")
    return DatasetIndex(root, tuple(cases), class_labels(class_names, num_classes), (modalities[cases[0].case_id],))
