"""A single-frame DICOM image (a radiograph, or one slice on its own) as an `Image2D`."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from jaxseg.io.dicom_dataset import decode_frames, frame_count, is_multiframe, modality_values, read_dataset, rescale_of
from jaxseg.io.dicom_series import SEGMENTATION_STORAGE
from jaxseg.io.errors import ReadError
from jaxseg.io.image2d import Image2D


def _pixel_spacing(ds) -> tuple[float, float] | None:
    """PixelSpacing (in the patient), else ImagerPixelSpacing (at the detector), in mm; None when
    neither holds two positive numbers (some radiographs store 0)."""
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        value = ds.get(keyword)
        try:
            spacing = tuple(float(v) for v in value) if value else ()
        except (TypeError, ValueError):
            continue
        if len(spacing) == 2 and min(spacing) > 0:
            return spacing
    return None


def read_dicom_image(path: str | os.PathLike, max_voxels: int | None = None) -> Image2D:
    """Read one single-frame DICOM file as it is displayed: (H, W) rows top to bottom.

    Grey images are rescaled by RescaleSlope/RescaleIntercept, and MONOCHROME1 radiographs
    (where low values are bright) are inverted so that larger values are brighter; colour images
    are (H, W, 3) RGB. Spacing is (row, column) in mm from PixelSpacing, else ImagerPixelSpacing
    (detector plane: not corrected for magnification), else None. More than `max_voxels` values
    raise ReadError before decoding (see `decode_frames`).
    """
    path = Path(path)
    ds = read_dataset(path)
    if ds.get("SOPClassUID") == SEGMENTATION_STORAGE:
        raise ReadError(path, "is a DICOM SEG: read it with read_dicom_seg")
    if is_multiframe(ds, path):
        raise ReadError(path, f"is a multi-frame image ({frame_count(ds, path)} frame(s)): read it with "
                              "read_dicom_series")
    frames = decode_frames(ds, path, max_voxels)
    if frames.ndim == 4:
        array = frames[0]
    else:
        slope, intercept = rescale_of(ds, path)
        array = modality_values(frames, np.array([slope]), np.array([intercept]), ds)[0]
    return Image2D(array, _pixel_spacing(ds), str(path))
