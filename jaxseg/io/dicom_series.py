"""A DICOM series (a folder of slices, or one enhanced multi-frame file) as a `Volume`.

Files are grouped by SeriesInstanceUID, slices ordered by position along the slice normal, pixel
values rescaled (CT: Hounsfield units) and the affine built from ImagePositionPatient,
ImageOrientationPatient and PixelSpacing, converted from DICOM's LPS+ to RAS+. The array is
indexed (column, row, slice): see `jaxseg.io.volume` for the convention.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset

from jaxseg.io.dicom_dataset import (
    claimed_shape,
    decode_frames,
    frame_count,
    functional_group,
    is_dicom_file,
    is_multiframe,
    modality_values,
    read_dataset,
    rescale_of,
    slice_step,
)
from jaxseg.io.dicom_geometry import frame_plane, stack_geometry
from jaxseg.io.errors import MissingTagError, ReadError, SeriesSelectionError
from jaxseg.io.limits import check_claimed_size
from jaxseg.io.volume import Volume

log = logging.getLogger(__name__)

SEGMENTATION_STORAGE = "1.2.840.10008.5.1.4.1.1.66.4"
# Modalities whose images are projections (no slice position): read them with read_dicom_image.
PROJECTION_MODALITIES = frozenset({"CR", "DX", "MG", "RG", "XA", "RF", "IO", "PX"})


@dataclasses.dataclass(frozen=True)
class SeriesInfo:
    """What identifies a series that was read. files: in slice order (one for a multi-frame file)."""

    series_uid: str
    modality: str
    description: str
    frame_of_reference_uid: str
    files: tuple[str, ...]
    stored_dtype: str


def _candidate_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise ReadError(path, "no such file or folder")
    return sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))


def scan_series(path: str | os.PathLike) -> dict[str, list[tuple[Path, Dataset]]]:
    """Image files under `path` (a folder, searched recursively, or one file), headers only, by
    SeriesInstanceUID ("" for files without one). Files that are not DICOM, DICOM objects that are
    not images (DICOMDIR, structured reports, RT structures) and segmentations are left out."""
    path = Path(path)
    series: dict[str, list[tuple[Path, Dataset]]] = {}
    candidates = _candidate_files(path)
    segmentations = 0
    for file in candidates:
        if not is_dicom_file(file):
            log.debug("%s: not a DICOM file, skipped", file)
            continue
        ds = read_dataset(file, pixels=False)
        own_class = ds.get("SOPClassUID")
        meta_class = getattr(ds, "file_meta", {}).get("MediaStorageSOPClassUID")
        if SEGMENTATION_STORAGE in (own_class, meta_class):
            segmentations += 1
            continue
        if "Rows" not in ds:
            # DICOMDIRs, reports and RT objects have no image. A file cut short in its header has
            # no Rows either: its SOP class is then missing, cut (differs from the file meta's),
            # or an image class.
            intact = bool(own_class) and own_class == (meta_class or own_class)
            if not intact or "Image Storage" in own_class.name:
                raise ReadError(file, "DICOM image without Rows and Columns (truncated or damaged header?)")
            continue
        # Anonymisers sometimes blank SeriesInstanceUID: such files form one series with UID "".
        series.setdefault(str(ds.get("SeriesInstanceUID") or ""), []).append((file, ds))
    if not series:
        hint = f"; {segmentations} DICOM SEG file(s): read them with read_dicom_seg" if segmentations else ""
        raise ReadError(path, f"no DICOM image files here ({len(candidates)} file(s) looked at{hint})")
    return series


def _select(path: Path, series_uid: str | None) -> tuple[str, list[tuple[Path, Dataset]]]:
    groups = scan_series(path)
    listing = [(uid, str(files[0][1].get("Modality", "")), str(files[0][1].get("SeriesDescription", "")), len(files))
               for uid, files in groups.items()]
    if series_uid is None:
        if len(groups) > 1:
            raise SeriesSelectionError(path, f"holds {len(groups)} image series; choose one with series_uid", listing)
        series_uid = next(iter(groups))
    elif series_uid not in groups:
        raise SeriesSelectionError(path, f"holds no series {series_uid}", listing)
    return series_uid, groups[series_uid]


def _check_slice_header(file: Path, ds: Dataset) -> None:
    if "MOSAIC" in (ds.get("ImageType") or []):
        raise ReadError(file, "a Siemens MOSAIC image (many slices tiled in one frame) is not supported: convert "
                              "the series with dcm2niix")
    if int(ds.get("SamplesPerPixel") or 1) != 1:
        raise ReadError(file, f"colour image ({ds.get('PhotometricInterpretation')}): a volume needs one sample "
                              "per pixel")
    modality = str(ds.get("Modality", ""))
    if "ImagePositionPatient" not in ds and modality in PROJECTION_MODALITIES:
        raise MissingTagError(file, "ImagePositionPatient", f"{modality} images are projection radiographs, not "
                                                            "slices of a volume: read them with read_dicom_image")


def _classic_volume(path: Path, members: list[tuple[Path, Dataset]],
                    max_voxels: int | None) -> tuple[np.ndarray, np.ndarray, list[Path], str]:
    for file, ds in members:
        _check_slice_header(file, ds)
    _, rows, columns, samples = claimed_shape(members[0][1], members[0][0])
    check_claimed_size(path, (len(members), rows, columns, samples), 1, None, None, max_voxels)
    planes = [frame_plane(ds, file, file.name) for file, ds in members]
    slots, affine, _ = stack_geometry(planes, path, slice_step(members[0][1], members[0][0]))
    ordered = [members[i][0] for i in np.argsort(slots)]
    slices, stored = [], ""
    for file in ordered:
        ds = read_dataset(file)
        raw = decode_frames(ds, file, max_voxels)
        stored = stored or str(raw.dtype)
        slope, intercept = rescale_of(ds, file)
        slices.append(modality_values(raw, np.array([slope]), np.array([intercept]), ds)[0])
    # (rows, columns) per slice -> (column, row, slice)
    return np.ascontiguousarray(np.stack(slices, axis=-1).transpose(1, 0, 2)), affine, ordered, stored


def _multiframe_volume(file: Path, max_voxels: int | None) -> tuple[np.ndarray, np.ndarray, list[Path], str]:
    ds = read_dataset(file)
    _check_slice_header(file, ds)
    if "PerFrameFunctionalGroupsSequence" not in ds:
        raise MissingTagError(file, "PerFrameFunctionalGroupsSequence", "a multi-frame image needs the position "
                                                                        "of each frame")
    count = frame_count(ds, file)
    planes = [frame_plane(ds, file, f"frame {i + 1}", functional_group(ds, i, "PlanePositionSequence"),
                          functional_group(ds, i, "PlaneOrientationSequence"),
                          functional_group(ds, i, "PixelMeasuresSequence"))
              for i in range(count)]
    slots, affine, _ = stack_geometry(planes, file, slice_step(functional_group(ds, 0, "PixelMeasuresSequence"), file))
    raw = decode_frames(ds, file, max_voxels)
    rescales = np.array([rescale_of(functional_group(ds, i, "PixelValueTransformationSequence"), file)
                         for i in range(count)])
    values = modality_values(raw, rescales[:, 0], rescales[:, 1], ds)
    # (frame, row, column) -> (column, row, slice)
    return np.ascontiguousarray(values[np.argsort(slots)].transpose(2, 1, 0)), affine, [file], str(raw.dtype)


def load_series(path: str | os.PathLike, series_uid: str | None = None,
                max_voxels: int | None = None) -> tuple[Volume, SeriesInfo]:
    """`read_dicom_series`, also returning what identifies the series (for `jaxseg inspect`)."""
    path = Path(path)
    uid, members = _select(path, series_uid)
    multiframe = [file for file, ds in members if is_multiframe(ds, file)]
    if multiframe and len(members) > 1:
        raise ReadError(path, f"series {uid} mixes {len(multiframe)} multi-frame file(s) with {len(members)} files in "
                              "all: jaxseg reads a series of single-frame files or one multi-frame file")
    if multiframe:
        array, affine, files, stored = _multiframe_volume(multiframe[0], max_voxels)
    else:
        array, affine, files, stored = _classic_volume(path, members, max_voxels)
    header = members[0][1]
    info = SeriesInfo(uid, str(header.get("Modality", "")), str(header.get("SeriesDescription", "")),
                      str(header.get("FrameOfReferenceUID", "")), tuple(str(f) for f in files), stored)
    return Volume(array, affine, str(path)), info


def read_dicom_series(path: str | os.PathLike, series_uid: str | None = None, max_voxels: int | None = None) -> Volume:
    """Read a DICOM series as a Volume indexed (column, row, slice), affine in RAS+ mm.

    path: a folder (searched recursively; non-DICOM files are ignored) or one multi-frame file
    (Enhanced CT/MR). With several series in the folder, `series_uid` picks one; without it a
    SeriesSelectionError lists them. Slices are sorted by position along the slice normal and must
    be evenly spaced: gaps raise SliceSpacingError with each gap in mm. Values are rescaled by
    RescaleSlope/RescaleIntercept (CT: Hounsfield units, int16) and MONOCHROME1 is inverted.
    Compressed pixel data (JPEG 2000, JPEG-LS, JPEG, RLE) is decoded. Bad input raises a
    ReadError naming the file and the problem, as does a series of more than `max_voxels` values
    (default `jaxseg.io.limits.MAX_VOXELS`), before its pixels are decoded.
    """
    return load_series(path, series_uid, max_voxels)[0]
