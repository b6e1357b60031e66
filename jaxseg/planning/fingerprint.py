"""A dataset's fingerprint: what nnU-Net's planner needs to know about the raw cases, as `fingerprint.json`.

After nnU-Net v2's DatasetFingerprintExtractor
(nnunetv2/experiment_planning/dataset_fingerprint/fingerprint_extractor.py): each case is read
(here through `jaxseg.data.cases.read_case`, so axes run R, A, S and spacings are (x, y, z) mm),
cropped to the box of its non-zero voxels (any channel, holes filled: nnunetv2/preprocessing/
cropping/cropping.py), and the foreground (label > 0) intensities of each channel are collected.
Differences, both to keep the statistics exact and the memory small: a case's foreground voxels
are all taken when there are at most `samples_per_case` of them, else that many are drawn without
replacement (nnU-Net always draws 1e8 / cases with replacement); the total budget is 1e7 values
per channel (nnU-Net: 1e8). Class voxel counts are added (nnU-Net does not record them).

The fingerprint is cached as fingerprint.json in CACHE_ROOT/<dataset folder>-<hash of its path>/
(beside the prepared caches, see `jaxseg.data.prepare.cache_root`) and recomputed when a source
file's size or mtime changed.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import ml_collections
import numpy as np
from scipy import ndimage

from jaxseg.data.cache import source_stamp
from jaxseg.data.cases import read_case, read_volume
from jaxseg.data.msd import Case, DatasetIndex
from jaxseg.data.prepare import cache_root
from jaxseg.io.atomic import write_text_atomic

FINGERPRINT_VERSION = 1
TOTAL_SAMPLES = 10_000_000  # Foreground intensities kept per channel over the whole dataset.
SAMPLE_SEED = 1234  # nnU-Net's seed for the foreground draw.
PERCENTILES = (0.5, 50.0, 99.5)


def nonzero_box(image: np.ndarray) -> tuple[tuple[int, int], ...]:
    """[low, high) per spatial axis of the box around voxels non-zero in any channel of `image`
    (I, J, K, C), holes filled as nnU-Net's create_nonzero_mask does; the whole volume when all are zero."""
    mask = ndimage.binary_fill_holes(np.any(image != 0, axis=-1))
    if not mask.any():
        return tuple((0, n) for n in mask.shape)
    box = []
    for axis in range(mask.ndim):
        occupied = np.flatnonzero(mask.any(axis=tuple(a for a in range(mask.ndim) if a != axis)))
        box.append((int(occupied[0]), int(occupied[-1]) + 1))
    return tuple(box)


def intensity_stats(values: np.ndarray) -> dict:
    """mean, std, median, min, max, percentile_00_5, percentile_99_5 of a 1D array (None when empty)."""
    if values.size == 0:
        return dict.fromkeys(("mean", "std", "median", "min", "max", "percentile_00_5", "percentile_99_5"), None)
    low, median, high = np.percentile(values, PERCENTILES)
    return {"mean": float(values.mean()), "std": float(values.std()), "median": float(median),
            "min": float(values.min()), "max": float(values.max()),
            "percentile_00_5": float(low), "percentile_99_5": float(high)}


def case_fingerprint(case: Case, num_classes: int, num_channels: int, samples_per_case: int,
                     max_voxels: int | None = None) -> tuple[dict, list[np.ndarray]]:
    """One case's entry of fingerprint.json and its foreground intensities per channel (sampled).

    Entry: case_id, shape (I, J, K) and spacing (x, y, z) mm in RAS order, orientation (axis codes
    of the image file as stored), box and shape_after_crop of the non-zero region,
    relative_size_after_crop (voxels after / before), class_voxels (per label value, whole volume).
    """
    loaded = read_case(case, num_classes, num_channels, max_voxels)
    image = loaded.image.array if loaded.image.array.ndim == 4 else loaded.image.array[..., None]
    label = loaded.label.array
    box = nonzero_box(image)
    window = tuple(slice(a, b) for a, b in box)
    cropped_shape = tuple(b - a for a, b in box)
    foreground = label[window] > 0
    rng = np.random.RandomState(SAMPLE_SEED)
    picked = np.flatnonzero(foreground)
    if picked.size > samples_per_case:
        picked = np.sort(rng.choice(picked, samples_per_case, replace=False))
    samples = [image[window][..., c].ravel()[picked] for c in range(image.shape[-1])]
    entry = {
        "case_id": case.case_id,
        "shape": list(label.shape),
        "spacing": [float(s) for s in loaded.label.spacing],
        "orientation": "".join(read_volume(case.images[0], max_voxels).orientation),
        "crop_box": [list(b) for b in box],
        "shape_after_crop": list(cropped_shape),
        "relative_size_after_crop": float(np.prod(cropped_shape) / np.prod(label.shape)),
        "class_voxels": np.bincount(label.ravel(), minlength=num_classes).tolist(),
    }
    return entry, samples


def dataset_fingerprint(index: DatasetIndex, max_voxels: int | None = None) -> dict:
    """The fingerprint of every case of `index` (see the module docstring for the keys)."""
    num_channels = len(index.channels)
    per_case = max(1, TOTAL_SAMPLES // len(index.cases))
    entries, pooled = [], [[] for _ in range(num_channels)]
    for case in index.cases:
        entry, samples = case_fingerprint(case, index.num_classes, num_channels, per_case, max_voxels)
        entries.append(entry)
        for c, values in enumerate(samples):
            pooled[c].append(values)
    intensities = []
    for c, modality in enumerate(index.channels):
        values = np.concatenate(pooled[c])
        intensities.append({"channel": c, "modality": modality, "samples": int(values.size), **intensity_stats(values)})
    class_voxels = np.sum([e["class_voxels"] for e in entries], axis=0)
    return {
        "version": FINGERPRINT_VERSION,
        "dataset": str(index.root.absolute()),
        "channels": list(index.channels),
        "labels": {str(k): v for k, v in sorted(index.labels.items())},
        "num_cases": len(entries),
        "cases": entries,
        "spacings": [e["spacing"] for e in entries],
        "shapes_after_crop": [e["shape_after_crop"] for e in entries],
        "median_relative_size_after_crop": float(np.median([e["relative_size_after_crop"] for e in entries])),
        "foreground_intensity": intensities,
        "class_voxels": class_voxels.tolist(),
        "class_fraction": (class_voxels / class_voxels.sum()).tolist(),
        "sources": {c.case_id: source_stamp(c) for c in index.cases},
    }


def fingerprint_path(config: ml_collections.ConfigDict, workdir: str | os.PathLike | None, index: DatasetIndex) -> Path:
    """CACHE_ROOT/<dataset folder name>-<sha256 of its absolute path, 12 hex>/fingerprint.json."""
    digest = hashlib.sha256(str(index.root.absolute()).encode()).hexdigest()[:12]
    return cache_root(config, workdir) / f"{index.root.name}-{digest}" / "fingerprint.json"


def cached_fingerprint(config: ml_collections.ConfigDict, workdir: str | os.PathLike | None,
                       index: DatasetIndex) -> tuple[dict, Path]:
    """The fingerprint of the config's dataset and its file: read from the cache when it was made by
    this version from unchanged source files, else computed and written there."""
    path = fingerprint_path(config, workdir, index)
    if path.is_file():
        try:
            cached = json.loads(path.read_text())
        except json.JSONDecodeError:
            cached = {}  # A damaged cache file is rebuilt, never trusted.
        current = {c.case_id: source_stamp(c) for c in index.cases}
        if cached.get("version") == FINGERPRINT_VERSION and cached.get("sources") == current:
            return cached, path
    fingerprint = dataset_fingerprint(index, config.io.max_voxels)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(fingerprint, indent=1))
    return fingerprint, path
