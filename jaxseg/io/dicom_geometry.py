"""Where DICOM frames lie in the patient, and the affine of a stack of them.

A frame's geometry is its ImagePositionPatient (IPP, the centre of its first pixel),
ImageOrientationPatient (IOP: the direction along a row, then down a column) and PixelSpacing
(between rows, then between columns), all in LPS+ mm. A stack is sorted by position along the
slice normal (row x column), never by InstanceNumber, and must be evenly spaced.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from pydicom.dataset import Dataset

from jaxseg.io.dicom_dataset import LPS_TO_RAS, require, require_floats
from jaxseg.io.errors import MissingTagError, ReadError, SliceSpacingError

# Frames whose positions along the normal differ by less than this (mm) are at the same place.
SAME_POSITION_MM = 1e-2
# A step may differ from a whole multiple of the regular step by this fraction of it.
STEP_TOLERANCE = 0.05


@dataclasses.dataclass(frozen=True)
class FramePlane:
    """The geometry of one 2D frame, as DICOM gives it (LPS+ mm).

    position: (3,) ImagePositionPatient. orientation: (6,) ImageOrientationPatient.
    pixel_spacing: (2,) PixelSpacing (row spacing, column spacing). shape: (Rows, Columns).
    name: the file, or frame of a file, for messages.
    """

    position: np.ndarray
    orientation: np.ndarray
    pixel_spacing: np.ndarray
    shape: tuple[int, int]
    name: str

    @property
    def normal(self) -> np.ndarray:
        return np.cross(self.orientation[:3], self.orientation[3:])

    def in_plane_affine(self) -> np.ndarray:
        """(4, 4) RAS+ affine of the frame's pixels indexed (column, row, 0); column 2 is the unit normal."""
        lps = np.eye(4)
        lps[:3, 0] = self.orientation[:3] * self.pixel_spacing[1]
        lps[:3, 1] = self.orientation[3:] * self.pixel_spacing[0]
        lps[:3, 2] = self.normal
        lps[:3, 3] = self.position
        return LPS_TO_RAS @ lps


def frame_plane(item: Dataset, path: object, name: str, position_item: Dataset | None = None,
                orientation_item: Dataset | None = None, measures_item: Dataset | None = None) -> FramePlane:
    """The plane of a classic image (all attributes in `item`) or of one frame of a multi-frame image
    (attributes in its functional-group items; Rows and Columns in `item`)."""
    why = "it places the image in the patient"
    if position_item is None and orientation_item is None and measures_item is None:
        position_item = orientation_item = measures_item = item
    for group, keyword in ((position_item, "PlanePositionSequence"), (orientation_item, "PlaneOrientationSequence"),
                           (measures_item, "PixelMeasuresSequence")):
        if group is None:
            raise MissingTagError(path, keyword, f"{name} has no {keyword}: {why}")
    orientation = require_floats(orientation_item, "ImageOrientationPatient", 6, path, why)
    row, col = orientation[:3], orientation[3:]
    if abs(np.linalg.norm(row) - 1) > 1e-2 or abs(np.linalg.norm(col) - 1) > 1e-2 or abs(row @ col) > 1e-2:
        raise ReadError(path, f"ImageOrientationPatient {orientation.tolist()} of {name} is not two orthogonal "
                              "unit vectors")
    orientation = np.concatenate([row / np.linalg.norm(row), col / np.linalg.norm(col)])
    spacing = require_floats(measures_item, "PixelSpacing", 2, path, "it gives the pixel size in mm")
    if np.any(spacing <= 0):
        raise ReadError(path, f"PixelSpacing {spacing.tolist()} of {name} is not positive")
    shape = (int(require(item, "Rows", path, "image size")), int(require(item, "Columns", path, "image size")))
    return FramePlane(require_floats(position_item, "ImagePositionPatient", 3, path, why), orientation, spacing,
                      shape, name)


def _check_same_plane_kind(planes: list[FramePlane], path: object) -> None:
    first = planes[0]
    for plane in planes[1:]:
        if not np.allclose(plane.orientation, first.orientation, atol=1e-4):
            raise ReadError(path, f"frames differ in orientation: {first.name} has "
                                  f"{np.round(first.orientation, 5).tolist()}, {plane.name} has "
                                  f"{np.round(plane.orientation, 5).tolist()} (mixed series or localizer?)")
        if not np.allclose(plane.pixel_spacing, first.pixel_spacing, rtol=1e-4, atol=1e-6):
            raise ReadError(path, f"frames differ in PixelSpacing: {first.name} has {first.pixel_spacing.tolist()}, "
                                  f"{plane.name} has {plane.pixel_spacing.tolist()}")
        if plane.shape != first.shape:
            raise ReadError(path, f"frames differ in size: {first.name} is {first.shape}, "
                                  f"{plane.name} is {plane.shape}")


def stack_geometry(planes: list[FramePlane], path: object, single_step_mm: float | None = None,
                   allow_gaps: bool = False) -> tuple[np.ndarray, np.ndarray, int]:
    """Place parallel frames in a volume: (slot of each frame (N,) int, RAS+ affine (4, 4), slice count K).

    Frames are ordered by position along the slice normal; slot k of the volume is at
    position + k * step. The affine indexes (column, row, slot). The step vector joins the slice
    positions, so a stack sheared by CT gantry tilt keeps its true geometry. Errors: frames that
    differ in orientation, spacing or size; two frames at one position; uneven steps; and, unless
    `allow_gaps` (for sparse DICOM SEG frames), missing slices, each reported with its gap.
    A single frame needs `single_step_mm` (its slice thickness).
    """
    _check_same_plane_kind(planes, path)
    first = planes[0]
    normal = first.normal
    along = np.array([p.position @ normal for p in planes])
    order = np.argsort(along, kind="stable")
    steps = np.diff(along[order])
    same = np.flatnonzero(steps < SAME_POSITION_MM)
    if same.size:
        a, b = planes[order[same[0]]], planes[order[same[0] + 1]]
        raise ReadError(path, f"{same.size} frame(s) repeat the position of another, for example "
                              f"{a.name} and {b.name} at {along[order[same[0]]]:.3f} mm along the normal (several "
                              "acquisitions, echoes or time points in one series?)")
    if len(planes) == 1:
        if not single_step_mm or single_step_mm <= 0:
            raise MissingTagError(path, "SliceThickness",
                                  "a single slice needs its thickness (or SpacingBetweenSlices) as the slice spacing")
        slots, step_vector, count = np.zeros(1, int), normal * single_step_mm, 1
    else:
        step = float(steps.min())
        multiples = steps / step
        whole = np.round(multiples)
        uneven = np.abs(multiples - whole) > STEP_TOLERANCE
        skipped = whole > 1
        if uneven.any() or (skipped.any() and not allow_gaps):
            gaps = [(float(along[order[i]]), float(along[order[i + 1]]), float(steps[i]))
                    for i in np.flatnonzero(uneven | skipped)]
            described = "; ".join(
                f"{before:.3f} -> {after:.3f} mm (step {gap:.3f} mm"
                + (f", {int(round(gap / step)) - 1} slice(s) missing)" if not uneven[i] else ", not a multiple)")
                for (before, after, gap), i in zip(gaps[:5], np.flatnonzero(uneven | skipped)[:5]))
            more = f" and {len(gaps) - 5} more" if len(gaps) > 5 else ""
            kind = "non-uniform slice spacing" if uneven.any() else "missing slices"
            raise SliceSpacingError(path, f"{kind}: the regular step along the slice normal is {step:.4f} mm, but "
                                          f"{described}{more}", gaps, step)
        sorted_slots = np.concatenate([[0], np.cumsum(whole)]).astype(int)
        slots = np.empty(len(planes), int)
        slots[order] = sorted_slots
        count = int(sorted_slots[-1]) + 1
        offsets = np.array([p.position for p in planes]) - planes[order[0]].position
        # Least-squares step vector through all positions, then every frame must sit on that line.
        step_vector = (offsets * slots[:, None]).sum(0) / float((slots**2).sum())
        off_line = np.linalg.norm(offsets - slots[:, None] * step_vector, axis=1)
        if off_line.max() > 0.05 * first.pixel_spacing.min() + 1e-3:
            worst = planes[int(off_line.argmax())]
            raise ReadError(path, f"slice positions do not lie on one line: {worst.name} is {off_line.max():.3f} mm "
                                  "off it (mixed stacks?)")
    origin = planes[order[0]]
    affine = origin.in_plane_affine()
    affine[:3, 2] = LPS_TO_RAS[:3, :3] @ step_vector
    return slots, affine, count
