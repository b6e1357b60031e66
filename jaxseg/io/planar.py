"""2D inputs of any kind (PNG, JPEG, TIFF, single DICOM images) and label maps written back in the
geometry of the file their image came from (PNG for 2D images, NIfTI for volumes)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from jaxseg.io.dicom_image import read_dicom_image
from jaxseg.io.image2d import IMAGE_SUFFIXES, Image2D, label_colours, read_image, volume_pixels, write_mask
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


def write_label_map(labels: Volume, path: str | os.PathLike, source: str | os.PathLike | None = None,
                    class_names: Mapping[int, str] | None = None) -> Path:
    """Write a label map in the geometry of its image's file `source`, atomically.

    .png/.tif paths: `labels` is a one-slice volume of a 2D image (`image_volume`'s grid, any axis
    order) written as an (H, W) mask of the image's size whose pixel values are the labels, stored
    with a palette (`label_colours`) so that image viewers show the classes in colour, and a
    sidecar NAME.json: {"labels": {"0": {"name", "colour"}, ...}, "encoding"} (names from
    `class_names`, else class_N). NIfTI paths: with a NIfTI `source` a copy of its header and axis
    order, otherwise (DICOM series, NRRD) the volume's own RAS+ affine.
    """
    if is_nifti(path):
        return write_nifti(labels, path, like=source if source is not None and is_nifti(source) else None)
    pixels = volume_pixels(labels)
    count = max(int(pixels.max(initial=0)) + 1, max(class_names, default=0) + 1 if class_names else 0)
    written = write_mask(pixels, path, palette=True)
    colours = label_colours(count) if count <= 256 else None
    names = dict(class_names or {})
    sidecar = {
        "encoding": ("pixel values are the labels; the PNG/TIFF palette colours them" if colours else
                     "pixel values are the labels (16-bit grey: too many labels for a palette)"),
        "labels": {str(n): {"name": names.get(n, "background" if n == 0 else f"class_{n}"),
                            **({"colour": list(colours[n])} if colours else {})} for n in range(count)},
    }
    _write_text(written.with_suffix(".json"), json.dumps(sidecar, indent=1) + "\n")
    return written


def _write_text(path: Path, text: str) -> None:
    """Write `text` atomically (a temporary file renamed into place)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
