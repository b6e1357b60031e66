"""`Volume`: a 3D image array with the patient geometry that places it in the world.

Axis convention: `array[i, j, k]` is the voxel at index (i, j, k) and `affine @ (i, j, k, 1)` is its
centre in RAS+ world millimetres: x grows towards the patient's Right, y towards Anterior, z towards
Superior, as in NIfTI (DICOM's LPS differs by the signs of x and y).
Readers return arrays in the order stored on disk with the matching affine; `as_canonical()`
reorders the axes (by flips and transposes only, never resampling) so that they run R, A, S.
"""

from __future__ import annotations

import dataclasses

import nibabel as nib
import numpy as np

# Anatomical planes by the world axis their normal runs along (0: x/R, 1: y/A, 2: z/S).
PLANE_NORMALS = {"sagittal": 0, "coronal": 1, "axial": 2}


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

    def as_canonical(self) -> Volume:
        """The same voxels with axes flipped and transposed so that they run towards R, A, S."""
        return self.reoriented(("R", "A", "S"))

    def reoriented(self, codes: tuple[str, str, str]) -> Volume:
        """The same voxels with axes flipped and transposed to run towards `codes` (e.g. ('L', 'P', 'S')).

        Used to put a prediction made on canonical axes back into a source file's orientation.
        """
        current = nib.orientations.io_orientation(self.affine)
        target = nib.orientations.axcodes2ornt(tuple(codes))
        transform = nib.orientations.ornt_transform(current, target)
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
        world_axis = PLANE_NORMALS[plane]
        ornt = nib.orientations.io_orientation(self.affine)
        return int(np.flatnonzero(ornt[:, 0] == world_axis)[0])
