"""Files <-> `Volume` / `Image2D`: the only package that knows file formats and patient geometry.

Volumes: NIfTI, NRRD, DICOM series (classic or enhanced multi-frame, compressed or not) and
DICOM SEG label maps, all as arrays with an affine from indices to RAS+ mm (see `volume`).
2D: PNG/JPEG/TIFF images and masks, single DICOM images (radiographs), per-instance mask
folders, Kaggle run-length codes and bounding-box CSVs (see `image2d`); a 2D image as a one-slice
Volume, and label maps written back as PNG or NIfTI (see `planar`).
"""

from jaxseg.io.boxes import Box, check_boxes_inside, read_box_csv
from jaxseg.io.dicom_image import read_dicom_image
from jaxseg.io.dicom_seg import Segmentation, read_dicom_seg
from jaxseg.io.dicom_series import read_dicom_series
from jaxseg.io.errors import (
    GeometryMismatchError,
    MissingTagError,
    ReadError,
    SeriesSelectionError,
    SliceSpacingError,
)
from jaxseg.io.image2d import (
    Image2D,
    check_same_size,
    image_volume,
    one_slice_affine,
    read_image,
    read_instance_masks,
    read_mask,
    volume_pixels,
    write_mask,
)
from jaxseg.io.info import describe, format_description
from jaxseg.io.nifti import nifti_codes, read_nifti, write_nifti
from jaxseg.io.nrrd import read_nrrd
from jaxseg.io.planar import is_planar_file, prediction_suffix, read_planar_image, write_label_map
from jaxseg.io.rle import read_rle_csv, rle_decode, rle_encode
from jaxseg.io.volume import Volume, check_same_grid

__all__ = [
    "Box", "GeometryMismatchError", "Image2D", "MissingTagError", "ReadError", "Segmentation",
    "SeriesSelectionError", "SliceSpacingError", "Volume", "check_boxes_inside", "check_same_grid",
    "check_same_size", "describe", "image_volume", "is_planar_file", "one_slice_affine",
    "prediction_suffix", "read_planar_image", "volume_pixels", "write_label_map", "format_description", "nifti_codes",
    "read_box_csv", "read_dicom_image",
    "read_dicom_seg", "read_dicom_series", "read_image", "read_instance_masks", "read_mask", "read_nifti",
    "read_nrrd", "read_rle_csv", "rle_decode", "rle_encode", "write_mask", "write_nifti",
]
