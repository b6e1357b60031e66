"""Shared pieces of the 3D experiments of benchmarks/accuracy.py (seed 000 planes, seed 004 propagation):
a Decathlon-style folder over shared volumes, and per-volume scores.

The folder lives in the run's temporary workdir: images are linked to the shared files (BraTS is
non-commercial: read in place, never copied into the repository); what the experiments need and the
files do not hold (a whole-tumour label, 2 mm volumes, CT slabs with an organ subset) is derived
from the shared files and written there, deleted with the workdir.
"""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np

BRATS_CASES = ("brats_2013_pat0001_1", "brats_2013_pat0002_1", "brats_2013_pat0003_1")
BRATS_CHANNELS = {"FLAIR": "Flair_subtrMeanDivStd.nii.gz", "T1c": "T1c_subtrMeanDivStd.nii.gz"}


def brats_whole_tumour(source: Path, folder: Path, channels: tuple[str, ...] = ("FLAIR", "T1c"),
                       spacing_mm: tuple[float, float, float] | None = None) -> Path:
    """folder/dataset.json over the three shared BRATS subjects with a binary whole-tumour label
    (1 = any of labels 1-4) and `channels` from `source` in that order: linked, or with `spacing_mm`
    resampled as jaxseg's `prepare` resamples (for runs that cannot resample themselves: slice
    propagation predicts on the files' own grid). Returns `folder`."""
    from jaxseg.data.cases import LoadedCase
    from jaxseg.data.preprocess import resample
    from jaxseg.io import Volume, read_nifti

    entries = []
    for case in BRATS_CASES:
        (folder / case).mkdir(parents=True, exist_ok=True)
        label = read_nifti(source / case / "OTMultiClass.nii.gz")
        tumour = Volume((label.array > 0.5).astype(np.uint8), label.affine)  # float32 values 0-4 in the file
        if spacing_mm is None:
            for channel in channels:
                link = folder / case / BRATS_CHANNELS[channel]
                if not link.exists():
                    link.symlink_to(source / case / BRATS_CHANNELS[channel])
        else:
            image = np.stack([read_nifti(source / case / BRATS_CHANNELS[c]).array for c in channels], axis=-1)
            resampled = resample(LoadedCase(case, Volume(image.astype(np.float32), label.affine), tumour), spacing_mm)
            tumour = resampled.label
            for c, channel in enumerate(channels):
                nib.save(nib.Nifti1Image(resampled.image.array[..., c], resampled.image.affine),
                         folder / case / BRATS_CHANNELS[channel])
        nib.save(nib.Nifti1Image(tumour.array, tumour.affine), folder / case / "whole_tumour.nii.gz")
        entries.append({"image": [f"{case}/{BRATS_CHANNELS[c]}" for c in channels],
                        "label": f"{case}/whole_tumour.nii.gz"})
    write_manifest(folder, {"0": "background", "1": "whole_tumour"}, channels, entries)
    return folder


def write_manifest(folder: Path, labels: dict[str, str], channels: tuple[str, ...], entries: list[dict]) -> None:
    """folder/dataset.json: Decathlon labels, modality (one name per channel) and training entries."""
    manifest = {"labels": labels, "modality": {str(i): c for i, c in enumerate(channels)}, "training": entries}
    (folder / "dataset.json").write_text(json.dumps(manifest, indent=1))


def volume_scores(prediction: np.ndarray, reference: np.ndarray, spacing: tuple[float, ...],
                  labels: dict[int, str]) -> dict[str, float]:
    """Mean over the foreground classes of `labels` of jaxseg.evaluate.case_metrics' Dice, IoU and
    HD95 (mm) of (I, J, K) label maps with voxel `spacing` (mm per axis)."""
    from jaxseg.evaluate import case_metrics

    per_class = case_metrics(prediction, reference, labels, spacing)
    return {m: float(np.mean([c[m] for c in per_class.values()])) for m in ("Dice", "IoU", "HD95")}
