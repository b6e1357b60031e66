"""Reading a labelled case (NIfTI, NRRD, DICOM series and SEG, or a 2D image and mask): its channels
and label on one checked grid, in RAS axis order."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np

from jaxseg.data.images2d import read_planar_case
from jaxseg.data.msd import Case
from jaxseg.io import ReadError, Volume, check_same_grid, read_dicom_seg, read_dicom_series, read_nifti, read_nrrd
from jaxseg.io.nifti import is_nifti
from jaxseg.io.nrrd import is_nrrd


@dataclasses.dataclass(frozen=True)
class LoadedCase:
    """A case ready for use, axes running R, A, S.

    image: (I, J, K, C) float32 (raw values from `read_case`, normalised from `preprocess_case`),
    label: (I, J, K) uint8 label map on the same grid. `image.source` names the image file
    (predictions are written back in its geometry). pad_value: (C,) the normalised value of empty
    space per channel, what inference pads with (see `jaxseg.data.slices`); empty before normalising.
    spacing_unit: what the grid's spacing measures: "mm", or "px" for a 2D image whose file gives no
    pixel size (its grid has spacing 1).
    """

    case_id: str
    image: Volume
    label: Volume
    pad_value: tuple[float, ...] = ()
    spacing_unit: str = "mm"


def read_volume(path: str | os.PathLike, max_voxels: int | None = None) -> Volume:
    """An image file or DICOM series folder as a Volume (NIfTI, NRRD or DICOM series) of at most
    `max_voxels` values (default `jaxseg.io.limits.MAX_VOXELS`)."""
    path = Path(path)
    if path.is_dir():
        return read_dicom_series(path, max_voxels=max_voxels)
    if is_nifti(path):
        return read_nifti(path, max_voxels)
    if is_nrrd(path):
        return read_nrrd(path, max_voxels)
    raise ReadError(path, "unsupported image: expected NIfTI (.nii, .nii.gz), NRRD (.nrrd) or a DICOM series folder")


def read_label(path: str | os.PathLike, image: Volume, max_voxels: int | None = None) -> Volume:
    """A label map for `image`: a NIfTI or NRRD file, or a DICOM SEG placed on the image's grid
    (label value n = SegmentNumber n).

    A label file holding the image's voxels in another axis order (a converter that stored the
    slices the other way round) is put in the image's order; any other grid raises
    GeometryMismatchError naming the label file.
    """
    if is_nifti(path) or is_nrrd(path):
        label = read_volume(path, max_voxels)
        if label.array.ndim != 3 or image.shape == label.shape and np.allclose(image.affine, label.affine):
            return label
        return label.reoriented_like(image.affine, image.shape, image.source or "the image")
    return read_dicom_seg(path, reference=image).labels


def _read_image(case: Case, max_voxels: int | None) -> Volume:
    """(I, J, K, C) float32: one file per channel, or one 4D file holding every channel."""
    volumes = [read_volume(path, max_voxels) for path in case.images]
    for path, volume in zip(case.images, volumes):
        if len(case.images) > 1 and volume.array.ndim != 3:
            raise ReadError(path, f"expected one 3D channel, got shape {volume.array.shape}")
        check_same_grid(volumes[0], volume)
    arrays = [v.array if v.array.ndim == 4 else v.array[..., None] for v in volumes]
    image = np.concatenate(arrays, axis=-1).astype(np.float32, copy=False)
    if not np.all(np.isfinite(image)):
        raise ReadError(case.images[0], "image holds NaN or infinite values")
    return Volume(image, volumes[0].affine, str(case.images[0]))


def read_case(case: Case, num_classes: int, num_channels: int, max_voxels: int | None = None) -> LoadedCase:
    """Read and check one case; ReadError naming the offending file if anything is off.

    Image channels and label must share the grid (same shape, grid corners within 0.01 mm, else a
    GeometryMismatchError), the image
    must have `num_channels` channels and label values must be integers in [0, num_classes).
    Both are reoriented to RAS axes (flips and transposes only). A 2D case (`case.reading`) is
    one axial slice (see `jaxseg.data.images2d`). No file may claim more than `max_voxels` values
    (the config's `io.max_voxels`; default `jaxseg.io.limits.MAX_VOXELS`).
    """
    if case.reading is None:
        image, label, unit = _read_image(case, max_voxels), None, "mm"
    else:
        image, label, unit = read_planar_case(case.images[0], case.label, case.reading, max_voxels)
    if image.array.shape[-1] != num_channels:
        raise ReadError(case.images[0], f"has {image.array.shape[-1]} channels, the dataset declares {num_channels}")
    if label is None:
        label = read_label(case.label, image, max_voxels)
    if label.array.ndim != 3:
        raise ReadError(case.label, f"expected a 3D label map, got shape {label.array.shape}")
    check_same_grid(image, label)
    values = label.array
    if values.dtype.kind == "f" and not np.array_equal(values, np.round(values)):
        raise ReadError(case.label, "label map holds non-integer values")
    if values.min() < 0 or values.max() >= num_classes:
        raise ReadError(case.label, f"label values span [{values.min()}, {values.max()}], expected [0, {num_classes})")
    image = image.as_canonical()
    label = label.as_canonical()
    return LoadedCase(case.case_id, image, Volume(label.array.astype(np.uint8), label.affine, str(case.label)),
                      spacing_unit=unit)
