"""DICOM Segmentation (SEG) objects as label maps on the grid of their reference image.

Each SEG frame holds one segment on one plane. Frames are placed by geometry: the frame's
position, orientation and pixel spacing are mapped into the reference volume's index space,
which must put every frame pixel exactly on a voxel (flips and axis swaps allowed, resampling
never). A frame that does not fit is a GeometryMismatchError, not a silently shifted label.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset

from jaxseg.io.dicom_dataset import decode_frames, functional_group, read_dataset, require, slice_step
from jaxseg.io.dicom_geometry import FramePlane, frame_plane, stack_geometry
from jaxseg.io.dicom_series import SEGMENTATION_STORAGE, load_series, scan_series
from jaxseg.io.errors import GeometryMismatchError, MissingTagError, ReadError
from jaxseg.io.volume import Volume

# A frame pixel must land within this many voxels of a voxel centre.
FIT_TOLERANCE_VOXELS = 0.05


@dataclasses.dataclass(frozen=True)
class Segmentation:
    """A SEG as a label map. labels: (I, J, K) uint8 (uint16 past 255 segments) on the reference
    grid, 0 = background, n = SegmentNumber n. segments: SegmentNumber -> SegmentLabel."""

    labels: Volume
    segments: dict[int, str]


def _segment_frames(ds: Dataset, path: Path) -> tuple[np.ndarray, list[int], list[FramePlane]]:
    """Frame masks (F, R, C) bool, the segment number and the plane of each frame."""
    kind = require(ds, "SegmentationType", path, "it says how frame values encode segments")
    frames = decode_frames(ds, path)
    if kind == "BINARY":
        masks = frames.astype(bool)
    elif kind == "FRACTIONAL":
        maximum = float(require(ds, "MaximumFractionalValue", path, "it scales FRACTIONAL frame values"))
        masks = frames >= maximum / 2
    else:
        raise ReadError(path, f"SegmentationType {kind} is not supported (BINARY and FRACTIONAL are)")
    numbers, planes = [], []
    for i in range(len(frames)):
        identification = functional_group(ds, i, "SegmentIdentificationSequence")
        if identification is None:
            raise MissingTagError(path, "SegmentIdentificationSequence", f"it names the segment of frame {i + 1}")
        numbers.append(int(require(identification, "ReferencedSegmentNumber", path, f"segment of frame {i + 1}")))
        planes.append(frame_plane(ds, path, f"frame {i + 1}", functional_group(ds, i, "PlanePositionSequence"),
                                  functional_group(ds, i, "PlaneOrientationSequence"),
                                  functional_group(ds, i, "PixelMeasuresSequence")))
    return masks, numbers, planes


def _own_grid(ds: Dataset, planes: list[FramePlane], path: Path) -> Volume:
    """The grid spanned by the SEG's own frames (empty frames may be left out of a SEG: gaps allowed)."""
    unique: dict[tuple[float, ...], FramePlane] = {}
    for plane in planes:
        unique.setdefault(tuple(np.round(plane.position, 3)), plane)
    step = slice_step(functional_group(ds, 0, "PixelMeasuresSequence"), path)
    _, affine, count = stack_geometry(list(unique.values()), path, step, allow_gaps=True)
    rows, columns = planes[0].shape
    return Volume(np.zeros((columns, rows, count), np.uint8), affine, str(path))


def _frame_index(plane: FramePlane, grid: Volume, path: Path) -> tuple[np.ndarray, ...]:
    """Index arrays (for np.ix_) placing the frame's (column, row) pixels on the grid, and the axes of
    (row, column, normal) in the grid, or GeometryMismatchError."""
    mapping = np.linalg.solve(grid.affine, plane.in_plane_affine())
    origin, column_step, row_step = mapping[:3, 3], mapping[:3, 0], mapping[:3, 1]
    rows, columns = plane.shape
    ideal_column, ideal_row = np.round(column_step), np.round(row_step)
    axis_c, axis_r = int(np.abs(ideal_column).argmax()), int(np.abs(ideal_row).argmax())
    corners = [(c, r) for c in (0, columns - 1) for r in (0, rows - 1)]
    misfit = max(np.abs(origin + c * column_step + r * row_step
                        - (np.round(origin) + c * ideal_column + r * ideal_row)).max() for c, r in corners)
    if (np.abs(ideal_column).sum() != 1 or np.abs(ideal_row).sum() != 1 or axis_c == axis_r
            or misfit > FIT_TOLERANCE_VOXELS):
        raise GeometryMismatchError(path, f"{plane.name} does not lie on the voxels of {grid.source or 'the reference'}"
                                          f" (off by up to {misfit:.3g} voxels: different orientation, spacing or "
                                          "position)")
    start = np.round(origin).astype(int)
    index = [np.array([start[a]]) for a in range(3)]
    index[axis_c] = start[axis_c] + int(ideal_column[axis_c]) * np.arange(columns)
    index[axis_r] = start[axis_r] + int(ideal_row[axis_r]) * np.arange(rows)
    for axis, values in enumerate(index):
        if values.min() < 0 or values.max() >= grid.shape[axis]:
            raise GeometryMismatchError(path, f"{plane.name} lies partly outside {grid.source or 'the reference'} "
                                              f"(voxel indices {values.min()}..{values.max()} on axis {axis}, grid "
                                              f"size {grid.shape[axis]})")
    normal_axis = 3 - axis_c - axis_r
    return tuple(index), (axis_r, axis_c, normal_axis)


def _reference_grid(ds: Dataset, reference: Volume | str | os.PathLike, path: Path) -> Volume:
    if isinstance(reference, Volume):
        return reference
    referenced = [str(item.get("SeriesInstanceUID", "")) for item in ds.get("ReferencedSeriesSequence") or []]
    present = [uid for uid in referenced if uid in scan_series(reference)]
    volume, info = load_series(reference, present[0] if present else None)
    own, theirs = str(ds.get("FrameOfReferenceUID", "")), info.frame_of_reference_uid
    if own and theirs and own != theirs:
        raise GeometryMismatchError(path, f"FrameOfReferenceUID {own} differs from {theirs} of the series in "
                                          f"{reference}: the SEG belongs to another patient space")
    return volume


def read_dicom_seg(path: str | os.PathLike, reference: Volume | str | os.PathLike | None = None) -> Segmentation:
    """Read a DICOM SEG as a label map on the voxel grid of `reference`.

    reference: the Volume of the segmented series (any axis order, e.g. after as_canonical), or
    its folder (the series the SEG references is picked and its FrameOfReferenceUID checked), or
    None for the grid spanned by the SEG's own frames. BINARY and FRACTIONAL (>= half the maximum
    counts as inside) SEGs are read. Overlapping segments cannot share one label map: ReadError.
    """
    path = Path(path)
    ds = read_dataset(path)
    if ds.get("SOPClassUID") != SEGMENTATION_STORAGE and ds.get("Modality") != "SEG":
        raise ReadError(path, f"not a DICOM SEG (SOP class {ds.get('SOPClassUID', 'unknown')})")
    segments = {int(require(item, "SegmentNumber", path, "it numbers each segment")): str(item.get("SegmentLabel", ""))
                for item in require(ds, "SegmentSequence", path, "it lists the segments")}
    masks, numbers, planes = _segment_frames(ds, path)
    grid = _own_grid(ds, planes, path) if reference is None else _reference_grid(ds, reference, path)
    dtype = np.uint8 if max(segments, default=0) < 256 else np.uint16
    labels = np.zeros(grid.shape, dtype)
    overlaps: dict[tuple[int, int], int] = {}
    for mask, number, plane in zip(masks, numbers, planes):
        if number not in segments:
            raise ReadError(path, f"{plane.name} refers to segment {number}, which SegmentSequence does not define")
        index, axes = _frame_index(plane, grid, path)
        # (row, column) frame -> a 3D block in the grid's axis order
        block = np.transpose(mask[:, :, None], np.argsort(axes))
        target = labels[np.ix_(*index)]
        clash = block & (target != 0) & (target != number)
        for other in np.unique(target[clash]):
            overlaps[(int(other), number)] = overlaps.get((int(other), number), 0) + int((target[clash] == other).sum())
        labels[np.ix_(*index)] = np.where(block, number, target)
    if overlaps:
        listed = ", ".join(f"{segments[a]!r} ({a}) and {segments[b]!r} ({b}): {n} voxels"
                           for (a, b), n in overlaps.items())
        raise ReadError(path, f"segments overlap, so they cannot share one label map: {listed}")
    return Segmentation(Volume(labels, grid.affine, str(path)), segments)
