"""NIfTI-1/2 reading and writing with nibabel, keeping the affine."""

from __future__ import annotations

import os
from pathlib import Path

import nibabel as nib
import numpy as np

from jaxseg.io.atomic import atomic_path
from jaxseg.io.errors import ReadError
from jaxseg.io.limits import DEFLATE_RATIO, check_claimed_size
from jaxseg.io.volume import Volume

NIFTI_SUFFIXES = (".nii", ".nii.gz")
# Free-text header fields, which converters fill with patient and study details: never copied
# into a written file (NIfTI-2 has no db_name).
PRIVATE_TEXT_FIELDS = ("descrip", "aux_file", "intent_name", "db_name")


def is_nifti(path: str | os.PathLike) -> bool:
    return str(path).endswith(NIFTI_SUFFIXES)


def load_nifti_image(path: str | os.PathLike) -> nib.Nifti1Image:
    """The nibabel image object, with every failure turned into a ReadError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise ReadError(path, "no such file")
    try:
        image = nib.load(path)
    except Exception as err:  # nibabel raises many types for damaged files
        raise ReadError(path, f"not a readable NIfTI file ({err})") from None
    if not isinstance(image, (nib.Nifti1Image, nib.Nifti2Image)):
        raise ReadError(path, f"not a NIfTI image but {type(image).__name__}")
    return image


def read_nifti(path: str | os.PathLike, max_voxels: int | None = None) -> Volume:
    """Read a 3D (or 4D, channels last) NIfTI file as a Volume in its stored axis order.

    The array has the stored dtype unless the header scales values (scl_slope), in which case it
    is float. The affine is the one nibabel chooses (sform, else qform), in RAS+ mm. A header
    claiming more voxels than `max_voxels` or than the file can hold raises ReadError before any
    voxel is read (see `jaxseg.io.limits`).
    """
    image = load_nifti_image(path)
    size = Path(path).stat().st_size
    gzipped = str(path).endswith(".gz")
    stored = size if gzipped else size - int(image.dataobj.offset)
    check_claimed_size(path, image.shape, image.get_data_dtype().itemsize, stored, DEFLATE_RATIO if gzipped else 1,
                       max_voxels)
    try:
        array = np.asanyarray(image.dataobj)
    except Exception as err:  # truncated data, bad compression
        raise ReadError(path, f"cannot read the voxel data ({err})") from None
    if array.ndim == 2:
        raise ReadError(path, f"is 2D {array.shape}, expected a 3D volume")
    if array.ndim > 4:
        raise ReadError(path, f"has {array.ndim} dimensions {array.shape}, expected 3 or 4")
    try:
        return Volume(array, image.affine, str(path))
    except ValueError as err:
        raise ReadError(path, str(err)) from None


def nifti_codes(path: str | os.PathLike) -> tuple[int, int]:
    """(qform_code, sform_code) of a NIfTI header: 0 unknown, 1 scanner, 2 aligned, 3 Talairach, 4 MNI."""
    header = load_nifti_image(path).header
    return int(header["qform_code"]), int(header["sform_code"])


def write_nifti(volume: Volume, path: str | os.PathLike, like: str | os.PathLike | None = None) -> Path:
    """Write a Volume as NIfTI (gzip when the name ends in .gz); atomic: never a partial file.

    Without `like`, the affine is stored as both sform and qform with code 1 (scanner), units mm.
    With `like` (the NIfTI file the volume's image was read from), the volume is first put back
    in that file's axis order (flips and transposes: a prediction made on `as_canonical()` axes
    is fine) and written with a copy of its header: the same sform and qform matrices and codes
    and units, with the volume's dtype and no intensity scaling; its free-text fields
    (PRIVATE_TEXT_FIELDS) and header extensions, which can hold patient names, are not copied.
    A volume that is not on the file's grid raises GeometryMismatchError. Either way 3D Slicer and
    ITK-SNAP overlay the result on the image exactly where jaxseg placed it.
    """
    path = Path(path)
    if like is None:
        image = nib.Nifti1Image(volume.array, volume.affine)
        image.set_sform(volume.affine, code=1)
        image.set_qform(volume.affine, code=1)
        image.header.set_xyzt_units("mm")
    else:
        source = load_nifti_image(like)
        volume = volume.reoriented_like(source.affine, source.shape[:3], str(like))
        header = source.header.copy()
        header.set_data_dtype(volume.array.dtype)
        header.set_slope_inter(1.0, 0.0)
        for field in PRIVATE_TEXT_FIELDS:
            if field in header:
                header[field] = b""
        header.extensions.clear()
        image = type(source)(volume.array, None, header)
    with atomic_path(path) as tmp:
        nib.save(image, tmp)
    return path
