"""2D inputs of any kind (PNG, JPEG, TIFF, single DICOM images) and label maps written back in the
geometry of the file their image came from (PNG for 2D images, NIfTI for volumes)."""

from __future__ import annotations

import os
from pathlib import Path

from jaxseg.io.dicom_image import read_dicom_image
from jaxseg.io.image2d import IMAGE_SUFFIXES, Image2D, read_image, volume_pixels, write_mask
from jaxseg.io.nifti import is_nifti, write_nifti
from jaxseg.io.volume import Volume

DICOM_SUFFIX = ".dcm"
PLANAR_SUFFIXES = (*IMAGE_SUFFIXES, DICOM_SUFFIX)


def is_planar_file(path: str | os.PathLike) -> bool:
    """A 2D image file by its name: PNG, JPEG, TIFF or a single DICOM image (.dcm)."""
    return str(path).lower().endswith(PLANAR_SUFFIXES)


def read_planar_image(path: str | os.PathLike, max_voxels: int | None = None) -> Image2D:
    """A PNG/JPEG/TIFF image, or one DICOM image (radiograph: MONOCHROME1 inverted, spacing from
    PixelSpacing), as displayed: (H, W) or (H, W, C); at most `max_voxels` values (see `jaxseg.io.limits`)."""
    if str(path).lower().endswith(DICOM_SUFFIX):
        return read_dicom_image(path, max_voxels)
    return read_image(path, max_voxels)


def prediction_suffix(source: str | os.PathLike) -> str:
    """File ending of a label map written for an image read from `source`: .png for 2D images, else .nii.gz."""
    return ".png" if is_planar_file(source) and Path(source).is_file() else ".nii.gz"


def write_label_map(labels: Volume, path: str | os.PathLike, source: str | os.PathLike | None = None) -> Path:
    """Write a label map in the geometry of its image's file `source`, atomically.

    .png/.tif paths: `labels` is a one-slice volume of a 2D image (`image_volume`'s grid, any axis
    order) written as an (H, W) mask of the image's size. NIfTI paths: with a NIfTI `source` a copy
    of its header and axis order, otherwise (DICOM series, NRRD) the volume's own RAS+ affine.
    """
    if not is_nifti(path):
        return write_mask(volume_pixels(labels), path)
    return write_nifti(labels, path, like=source if source is not None and is_nifti(source) else None)
