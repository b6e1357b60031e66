"""What `jaxseg inspect` reports about an image file."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from jaxseg.io.errors import ReadError
from jaxseg.io.nifti import is_nifti, load_nifti_image, read_nifti


def describe(path: str | os.PathLike) -> dict[str, Any]:
    """Geometry and intensity summary of an image file.

    Keys: `path`, `format`, `shape`, `dtype` (as stored), `spacing` (mm per array axis), `affine`
    (4x4, array indices -> RAS+ mm), `orientation` (RAS letters per axis), `intensity_range`
    ([min, max] of the stored values after any header scaling).
    """
    if not is_nifti(path):
        raise ReadError(path, "unsupported file type: jaxseg reads NIfTI files (.nii, .nii.gz)")
    volume = read_nifti(path)
    finite = volume.array[np.isfinite(volume.array)] if volume.array.dtype.kind == "f" else volume.array
    return {
        "path": str(path),
        "format": "nifti",
        "shape": list(volume.array.shape),
        "dtype": str(load_nifti_image(path).get_data_dtype()),
        "spacing": list(volume.spacing),
        "affine": volume.affine.tolist(),
        "orientation": "".join(volume.orientation),
        "intensity_range": [float(finite.min()), float(finite.max())] if finite.size else None,
    }
