"""What `jaxseg inspect` reports about an image file or DICOM folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from jaxseg.io.dicom_dataset import is_dicom_file, is_multiframe, read_dataset
from jaxseg.io.dicom_image import read_dicom_image
from jaxseg.io.dicom_seg import read_dicom_seg
from jaxseg.io.dicom_series import SEGMENTATION_STORAGE, load_series
from jaxseg.io.errors import ReadError
from jaxseg.io.image2d import Image2D, is_image_file, read_image
from jaxseg.io.nifti import is_nifti, load_nifti_image, nifti_codes, read_nifti
from jaxseg.io.nrrd import is_nrrd, read_nrrd
from jaxseg.io.volume import Volume

SUPPORTED = ("a NIfTI file (.nii, .nii.gz), an NRRD file (.nrrd, .nhdr), a DICOM file or a folder of DICOM "
             "files, or a 2D image (.png, .jpg, .jpeg, .tif, .tiff)")


def _intensity_range(array: np.ndarray) -> list[float] | None:
    values = array[np.isfinite(array)] if array.dtype.kind == "f" else array
    return [float(values.min()), float(values.max())] if values.size else None


def _volume_keys(volume: Volume) -> dict[str, Any]:
    return {
        "shape": list(volume.array.shape),
        "spacing": list(volume.spacing),
        "affine": volume.affine.tolist(),
        "orientation": "".join(volume.orientation),
        "intensity_range": _intensity_range(volume.array),
    }


def _image_keys(image: Image2D) -> dict[str, Any]:
    return {
        "shape": list(image.array.shape),
        "dtype": str(image.array.dtype),
        "spacing": list(image.spacing) if image.spacing else None,
        "affine": None,
        "orientation": None,
        "intensity_range": _intensity_range(image.array),
    }


def _describe_dicom_file(path: Path) -> dict[str, Any]:
    header = read_dataset(path, pixels=False)
    dicom = {"modality": str(header.get("Modality", "")), "series_uid": str(header.get("SeriesInstanceUID", "")),
             "num_files": 1}
    if header.get("SOPClassUID") == SEGMENTATION_STORAGE:
        seg = read_dicom_seg(path)
        return {"format": "dicom-seg", **_volume_keys(seg.labels), "dtype": str(seg.labels.array.dtype), **dicom,
                "segments": {str(k): v for k, v in sorted(seg.segments.items())}}
    if is_multiframe(header, path):
        volume, info = load_series(path)
        return {"format": "dicom-multiframe", **_volume_keys(volume), "dtype": info.stored_dtype, **dicom}
    return {"format": "dicom", **_image_keys(read_dicom_image(path)), **dicom}


def describe(path: str | os.PathLike) -> dict[str, Any]:
    """Geometry and intensity summary of an image file or DICOM series folder.

    Keys: `path`, `format`, `shape`, `dtype` (as stored), `spacing` (mm per array axis),
    `affine` (4x4, array indices -> RAS+ mm), `orientation` (RAS letters per axis),
    `intensity_range` ([min, max] after any rescale: HU for CT). 2D images have `affine` and
    `orientation` None and `spacing` (row, column) mm or None. DICOM adds `modality`,
    `series_uid` and `num_files`; a DICOM SEG adds `segments` (number -> label, on the SEG's own
    frame grid); NIfTI adds `qform_code` and `sform_code`.
    """
    path = Path(path)
    if path.is_dir():
        volume, info = load_series(path)
        found = {"format": "dicom-series", **_volume_keys(volume), "dtype": info.stored_dtype,
                 "modality": info.modality, "series_uid": info.series_uid, "num_files": len(info.files)}
    elif not path.exists():
        raise ReadError(path, "no such file or folder")
    elif is_nifti(path):
        qform, sform = nifti_codes(path)
        found = {"format": "nifti", **_volume_keys(read_nifti(path)),
                 "dtype": str(load_nifti_image(path).get_data_dtype()), "qform_code": qform, "sform_code": sform}
    elif is_nrrd(path):
        volume = read_nrrd(path)
        found = {"format": "nrrd", **_volume_keys(volume), "dtype": str(volume.array.dtype)}
    elif is_image_file(path):
        suffix = path.suffix.lower().lstrip(".")
        found = {"format": {"jpg": "jpeg", "tif": "tiff"}.get(suffix, suffix), **_image_keys(read_image(path))}
    elif is_dicom_file(path):
        found = _describe_dicom_file(path)
    else:
        raise ReadError(path, f"unsupported file type: jaxseg reads {SUPPORTED}")
    return {"path": str(path), **found}


def format_description(info: dict[str, Any]) -> str:
    """`describe()`'s summary as the lines `jaxseg inspect` prints."""
    spacing = tuple(round(s, 4) for s in info["spacing"]) if info["spacing"] else "unknown"
    lines = [f"{info['path']} ({info['format']})"]
    if "modality" in info:
        lines.append(f"  modality     {info['modality']}  series {info['series_uid'] or '(none)'}  "
                     f"files {info['num_files']}")
    lines += [f"  shape        {tuple(info['shape'])}  dtype {info['dtype']}",
              f"  spacing (mm) {spacing}",
              f"  intensities  {info['intensity_range']}"]
    if "segments" in info:
        lines.append("  segments     " + ", ".join(f"{k}: {v}" for k, v in info["segments"].items()))
    if "qform_code" in info:
        lines.append(f"  qform/sform  codes {info['qform_code']}/{info['sform_code']}")
    if info["affine"] is not None:
        lines.append(f"  orientation  {info['orientation']}")
        lines.append("  affine (array index -> RAS+ mm)")
        lines += ["    " + " ".join(f"{v:10.4f}" for v in row) for row in info["affine"]]
    else:
        lines.append("  2D image     array [row, column], row 0 at the top")
    return "\n".join(lines)
