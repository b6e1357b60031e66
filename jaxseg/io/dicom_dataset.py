"""DICOM files through pydicom: failures that name the file, required attributes, pixel values.

Compressed transfer syntaxes are decoded by pydicom's plugins: JPEG 2000 by pylibjpeg-openjpeg,
JPEG (baseline, extended, lossless) and JPEG-LS by pylibjpeg-libjpeg, RLE by pydicom itself.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue

from jaxseg.io.errors import MissingTagError, ReadError
from jaxseg.io.limits import check_claimed_size

# DICOM patient coordinates are LPS+; jaxseg's world is RAS+ (x and y change sign).
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])

# Top-level attributes jaxseg reads. pydicom converts values when they are first used; converting
# these on reading reports a malformed one with its file, not later from deep inside pydicom.
USED_KEYWORDS = (
    "SOPClassUID", "Modality", "SeriesInstanceUID", "SeriesDescription", "FrameOfReferenceUID", "ImageType",
    "NumberOfFrames", "Rows", "Columns", "SamplesPerPixel", "PhotometricInterpretation", "BitsAllocated",
    "BitsStored", "PixelRepresentation", "ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing",
    "ImagerPixelSpacing", "SliceThickness", "SpacingBetweenSlices", "RescaleSlope", "RescaleIntercept",
    "SegmentationType", "MaximumFractionalValue",
)


def is_dicom_file(path: str | os.PathLike) -> bool:
    """True when the file starts with the DICOM preamble and 'DICM' marker (Part 10 file)."""
    try:
        with open(path, "rb") as handle:
            return handle.read(132)[128:] == b"DICM"
    except OSError:
        return False


def read_dataset(path: str | os.PathLike, pixels: bool = True) -> Dataset:
    """The pydicom dataset of a Part 10 file (header only when `pixels` is False)."""
    path = Path(path)
    if not path.is_file():
        raise ReadError(path, "no such file")
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=not pixels)
    except InvalidDicomError:
        raise ReadError(path, "not a DICOM file (no 'DICM' marker after the 128-byte preamble)") from None
    except Exception as err:  # pydicom raises many types for damaged files
        raise ReadError(path, f"damaged DICOM file ({type(err).__name__}: {err})") from None
    for keyword in USED_KEYWORDS:
        _get(ds, keyword, path)
    return ds


def _get(ds: Dataset, keyword: str, path: object) -> Any:
    try:
        return ds.get(keyword)
    except Exception as err:  # a value pydicom cannot convert to its VR
        raise ReadError(path, f"malformed {keyword} value ({type(err).__name__}: {err})") from None


def require(ds: Dataset, keyword: str, path: object, why: str) -> Any:
    """The value of attribute `keyword`; MissingTagError when absent or empty."""
    value = _get(ds, keyword, path)
    if value is None or (isinstance(value, (str, bytes, list, tuple, MultiValue)) and len(value) == 0):
        raise MissingTagError(path, keyword, why)
    return value


def require_floats(ds: Dataset, keyword: str, count: int, path: object, why: str) -> np.ndarray:
    """A multi-valued decimal attribute as float64 (count,); ReadError when malformed."""
    value = require(ds, keyword, path, why)
    items = value if isinstance(value, (list, tuple, MultiValue)) else [value]
    try:
        numbers = np.array([float(v) for v in items], dtype=np.float64)
    except (TypeError, ValueError):
        raise ReadError(path, f"{keyword} is not numeric: {value!r}") from None
    if numbers.shape != (count,) or not np.all(np.isfinite(numbers)):
        raise ReadError(path, f"{keyword} must hold {count} finite numbers, got {value!r}")
    return numbers


def _number(ds: Dataset | None, keyword: str, path: object) -> float | None:
    value = _get(ds, keyword, path) if ds is not None else None
    if value in (None, ""):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ReadError(path, f"{keyword} is not a number: {value!r}") from None


def frame_count(ds: Dataset, path: object) -> int:
    """NumberOfFrames (1 when absent)."""
    count = _number(ds, "NumberOfFrames", path)
    return 1 if count is None else int(count)


def is_multiframe(ds: Dataset, path: object) -> bool:
    """True for enhanced (functional-group) images and any file of several frames."""
    return "PerFrameFunctionalGroupsSequence" in ds or frame_count(ds, path) > 1


def slice_step(item: Dataset | None, path: object) -> float | None:
    """The slice spacing a lone slice declares: SpacingBetweenSlices, else SliceThickness (mm)."""
    for keyword in ("SpacingBetweenSlices", "SliceThickness"):
        value = _number(item, keyword, path)
        if value is not None:
            return value
    return None


def claimed_shape(ds: Dataset, path: object) -> tuple[int, int, int, int]:
    """(frames, rows, columns, samples per pixel) the header declares."""
    return (frame_count(ds, path), int(_number(ds, "Rows", path) or 0), int(_number(ds, "Columns", path) or 0),
            int(_number(ds, "SamplesPerPixel", path) or 1))


def decode_frames(ds: Dataset, path: object, max_voxels: int | None = None) -> np.ndarray:
    """Stored pixel values as (F, R, C) or (F, R, C, S), native byte order, before any rescale.

    F is the number of frames (1 for a single-frame file), R and C the rows and columns,
    S the samples per pixel (colour: YBR is converted to RGB by pydicom). A header claiming more
    than `max_voxels` values, or (uncompressed data) more bytes than PixelData holds, raises
    ReadError before decoding (see `jaxseg.io.limits`); compressed frames are held to
    `max_voxels` only, as JPEG 2000 and JPEG-LS can shrink a blank frame without bound.
    """
    if "PixelData" not in ds:
        raise MissingTagError(path, "PixelData", "the file holds no image")
    syntax = ds.file_meta.get("TransferSyntaxUID", "unknown")
    compressed = getattr(syntax, "is_compressed", True)
    bits = int(_number(ds, "BitsAllocated", path) or 8)
    check_claimed_size(path, claimed_shape(ds, path), bits / 8, len(ds.PixelData), None if compressed else 1,
                       max_voxels)
    try:
        array = ds.pixel_array
    except Exception as err:  # missing decoder plugin, truncated or corrupt pixel data
        name = getattr(syntax, "name", str(syntax))
        raise ReadError(path, f"cannot decode the pixel data ({name}): {str(err).strip()}") from None
    if frame_count(ds, path) == 1:
        array = array[None]
    return array.astype(array.dtype.newbyteorder("="), copy=False)


def stored_range(ds: Dataset) -> tuple[int, int]:
    """Smallest and largest value the stored pixels can take (BitsStored, PixelRepresentation)."""
    bits = int(ds.get("BitsStored") or ds.get("BitsAllocated") or 16)
    if int(ds.get("PixelRepresentation") or 0):
        return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1


def modality_values(raw: np.ndarray, slopes: np.ndarray, intercepts: np.ndarray, ds: Dataset) -> np.ndarray:
    """Rescaled values (CT: HU) of frames `raw` (F, ...), with one slope and intercept per frame.

    MONOCHROME1 images (where low values are bright) are inverted within the stored range first,
    so that larger values are brighter in every image, as in MONOCHROME2. The result keeps the
    stored dtype under an identity rescale, is the smallest of int16/int32 that holds the range
    under an integral one (CT in HU: int16), and float32 otherwise.
    """
    low, high = stored_range(ds)
    if ds.get("PhotometricInterpretation") == "MONOCHROME1":
        raw = ((low + high) - raw.astype(np.int64)).astype(raw.dtype)
    if np.all(slopes == 1) and np.all(intercepts == 0):
        return raw
    shape = (-1,) + (1,) * (raw.ndim - 1)
    values = raw.astype(np.float64) * slopes.reshape(shape) + intercepts.reshape(shape)
    if np.all(slopes == np.round(slopes)) and np.all(intercepts == np.round(intercepts)):
        ends = np.concatenate([low * slopes + intercepts, high * slopes + intercepts])
        for dtype in (np.int16, np.int32):
            if np.iinfo(dtype).min <= ends.min() and ends.max() <= np.iinfo(dtype).max:
                return values.astype(dtype)
    return values.astype(np.float32)


def rescale_of(item: Dataset | None, path: object) -> tuple[float, float]:
    """(RescaleSlope, RescaleIntercept) of a dataset or functional-group item; (1, 0) when absent."""
    slope, intercept = _number(item, "RescaleSlope", path), _number(item, "RescaleIntercept", path)
    return (1.0 if slope is None else slope), (0.0 if intercept is None else intercept)


def functional_group(ds: Dataset, frame: int, keyword: str) -> Dataset | None:
    """The first item of functional-group sequence `keyword` for frame `frame` (0-based) of a
    multi-frame dataset: from the per-frame groups, else the shared ones; None when neither has it."""
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if per_frame is not None and frame < len(per_frame) and per_frame[frame].get(keyword):
        return per_frame[frame][keyword][0]
    shared = ds.get("SharedFunctionalGroupsSequence")
    if shared and shared[0].get(keyword):
        return shared[0][keyword][0]
    return None
