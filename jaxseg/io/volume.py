"""`Volume`: a 3D image array with the patient geometry that places it in the world.

Axis convention (one for every reader): `array[i, j, k]` is the voxel at index (i, j, k) and
`affine @ (i, j, k, 1)` is its centre in RAS+ world millimetres: x grows towards the patient's
Right, y towards Anterior, z towards Superior, as in NIfTI (DICOM's LPS differs by the signs of x
and y). The index order is NIfTI's and ITK's: for a DICOM series, i runs along a row of the image
(the first ImageOrientationPatient vector), j down its columns (the second) and k from slice to
slice along the slice normal.
Readers return arrays in the order stored on disk with the matching affine; `as_canonical()`
reorders the axes (by flips and transposes only, never resampling) so that they run R, A, S, and
`reoriented_like()` puts them back into a file's order for writing.
"""

from __future__ import annotations

import dataclasses
import itertools

import nibabel as nib
import numpy as np

from jaxseg.io.errors import GeometryMismatchError

# Anatomical planes by the world axis their normal runs along (0: x/R, 1: y/A, 2: z/S).
PLANE_NORMALS = {"sagittal": 0, "coronal": 1, "axial": 2}

# Two grids are the same when their outer corners agree to this (mm): far below any voxel size,
# above the rounding of affines stored in float32 headers (about 1e-3 mm across 500 mm).
GRID_TOLERANCE_MM = 1e-2

# World axes of the display rows and columns of each plane. Both run towards decreasing world
# coordinates: anterior (axial) or superior (coronal, sagittal) at the top, and the patient's
# right on the left (axial, coronal: the radiological convention) or anterior on the left.
PLANE_DISPLAY_AXES = {"axial": (1, 0), "coronal": (2, 0), "sagittal": (2, 1)}


@dataclasses.dataclass(frozen=True)
class Volume:
    """A 3D image (or label map) and its geometry.

    array: (I, J, K) or (I, J, K, C) voxel values (HU for CT, integer labels for label maps).
    affine: (4, 4) float64 matrix from voxel indices to RAS+ world millimetres.
    source: where it was read from, for error messages ("" when made in memory).
    """

    array: np.ndarray
    affine: np.ndarray
    source: str = ""

    def __post_init__(self) -> None:
        affine = np.asarray(self.affine, dtype=np.float64)
        if affine.shape != (4, 4) or not np.all(np.isfinite(affine)):
            raise ValueError(f"{self.source or 'volume'}: affine must be a finite 4x4 matrix")
        if abs(np.linalg.det(affine[:3, :3])) < 1e-12:
            raise ValueError(f"{self.source or 'volume'}: affine is singular")
        if self.array.ndim not in (3, 4):
            raise ValueError(f"{self.source or 'volume'}: expected a 3D or 4D array, got shape {self.array.shape}")
        object.__setattr__(self, "affine", affine)

    @property
    def shape(self) -> tuple[int, int, int]:
        """Spatial shape (I, J, K)."""
        return tuple(self.array.shape[:3])

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Voxel size along each array axis, in mm."""
        return tuple(float(s) for s in np.linalg.norm(self.affine[:3, :3], axis=0))

    @property
    def orientation(self) -> tuple[str, str, str]:
        """Direction each array axis runs towards, as RAS letters (for example ('L', 'P', 'S'))."""
        return tuple(nib.aff2axcodes(self.affine))

    def corners(self) -> np.ndarray:
        """World positions (8, 3) in mm of the outer corners of the grid (voxel faces, not centres)."""
        return grid_corners(self.affine, self.shape)

    def as_canonical(self) -> Volume:
        """The same voxels with axes flipped and transposed so that they run towards R, A, S."""
        return self._reoriented(nib.orientations.axcodes2ornt(("R", "A", "S")))

    def reoriented_like(self, affine: np.ndarray, shape: tuple[int, ...], name: str = "the target grid",
                        atol_mm: float = GRID_TOLERANCE_MM) -> Volume:
        """The same voxels in the axis order of another grid (`affine`, spatial `shape`, called `name`
        in messages) that holds the same voxels, for example the file a prediction's image came from.

        Flips and transposes only; a grid that differs by more raises GeometryMismatchError.
        """
        moved = self._reoriented(nib.orientations.io_orientation(np.asarray(affine, dtype=np.float64)))
        _compare_grids(moved.source or "volume", moved.shape, moved.affine, name, tuple(shape)[:3], affine, atol_mm)
        return moved

    def _reoriented(self, target_ornt: np.ndarray) -> Volume:
        current = nib.orientations.io_orientation(self.affine)
        transform = nib.orientations.ornt_transform(current, target_ornt)
        if np.array_equal(transform, [[0, 1], [1, 1], [2, 1]]):
            return self
        array = nib.orientations.apply_orientation(self.array, transform)
        affine = self.affine @ nib.orientations.inv_ornt_aff(transform, self.shape)
        return Volume(np.ascontiguousarray(array), affine, self.source)

    def plane_axis(self, plane: str) -> int:
        """The array axis that is the normal of an anatomical plane ('axial', 'coronal', 'sagittal').

        Chosen from the affine (the array axis closest to the plane's world normal), not from the
        position of the axis in the array.
        """
        if plane not in PLANE_NORMALS:
            raise ValueError(f"unknown plane '{plane}': expected one of {sorted(PLANE_NORMALS)}")
        world_axis = PLANE_NORMALS[plane]
        ornt = nib.orientations.io_orientation(self.affine)
        return int(np.flatnonzero(ornt[:, 0] == world_axis)[0])

    def num_slices(self, plane: str) -> int:
        """How many slices of an anatomical plane the volume holds."""
        return self.shape[self.plane_axis(plane)]

    def plane_slice(self, plane: str, index: int) -> np.ndarray:
        """Slice `index` of an anatomical plane, laid out for display: (H, W) or (H, W, C).

        `index` counts from the patient's left (sagittal), posterior (coronal) or inferior
        (axial) side, whatever the array's axis order. Rows and columns follow PLANE_DISPLAY_AXES:
        axial slices have anterior up and the patient's right on the left (radiological),
        coronal superior up and right on the left, sagittal superior up and anterior on the left.
        On an oblique grid this is the array slice closest to the plane (no resampling).
        """
        ornt = nib.orientations.io_orientation(self.affine)
        axis = self.plane_axis(plane)
        count = self.shape[axis]
        if not 0 <= index < count:
            raise IndexError(f"{plane} slice {index} is outside 0..{count - 1}")
        position = index if ornt[axis, 1] > 0 else count - 1 - index
        view = np.take(self.array, position, axis=axis)
        rest = [a for a in range(3) if a != axis]
        order = [rest[list(ornt[rest, 0]).index(world)] for world in PLANE_DISPLAY_AXES[plane]]
        view = np.moveaxis(view, [rest.index(a) for a in order], [0, 1])
        # Display rows and columns run towards decreasing world coordinates.
        flips = tuple(slice(None, None, -1) if ornt[a, 1] > 0 else slice(None) for a in order)
        return view[flips]


def grid_corners(affine: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """World positions (8, 3) in mm of the outer corners of a grid of spatial `shape` (voxel faces)."""
    index = np.array(list(itertools.product(*[(-0.5, n - 0.5) for n in shape[:3]])))
    return index @ np.asarray(affine)[:3, :3].T + np.asarray(affine)[:3, 3]


def _compare_grids(name: str, shape: tuple[int, ...], affine: np.ndarray, reference_name: str,
                   reference_shape: tuple[int, ...], reference_affine: np.ndarray, atol_mm: float) -> None:
    if tuple(shape) != tuple(reference_shape):
        raise GeometryMismatchError(name, f"shape {tuple(shape)} differs from {reference_name}'s "
                                          f"{tuple(reference_shape)}")
    offset = float(np.abs(grid_corners(affine, shape) - grid_corners(reference_affine, reference_shape)).max())
    if offset > atol_mm:
        raise GeometryMismatchError(name, f"voxel grid differs from {reference_name}'s by up to {offset:.4g} mm "
                                          f"({_grid_summary(affine)} vs {_grid_summary(reference_affine)})")


def _grid_summary(affine: np.ndarray) -> str:
    spacing = np.round(np.linalg.norm(np.asarray(affine)[:3, :3], axis=0), 4).tolist()
    origin = np.round(np.asarray(affine)[:3, 3], 3).tolist()
    return f"orientation {''.join(nib.aff2axcodes(affine))}, spacing {spacing} mm, origin {origin}"


def check_same_grid(reference: Volume, other: Volume, atol_mm: float = GRID_TOLERANCE_MM) -> None:
    """Raise GeometryMismatchError (naming `other`) unless both volumes have the same voxel grid.

    Same grid: equal spatial shape and every outer grid corner at the same world position
    within `atol_mm` (default GRID_TOLERANCE_MM). Axis order matters: a flipped copy of the same
    voxels is a different grid.
    """
    _compare_grids(other.source or "volume", other.shape, other.affine, reference.source or "the reference",
                   reference.shape, reference.affine, atol_mm)
