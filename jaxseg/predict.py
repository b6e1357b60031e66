"""One image file -> a segmentation predictor -> a label map in the image's own geometry
(`jaxseg predict` of a segmentation run, through `SegmentationTask.predict`)."""

from __future__ import annotations

from pathlib import Path

from jaxseg.data.datasets import prepare_image
from jaxseg.data.images2d import image_channels
from jaxseg.inference.predictor import Predictor
from jaxseg.io import (
    ReadError,
    Volume,
    image_volume,
    is_planar_file,
    read_dicom_series,
    read_nifti,
    read_planar_image,
    write_label_map,
)
from jaxseg.io.dicom_seg_write import write_dicom_seg
from jaxseg.io.image2d import MASK_WRITE_SUFFIXES
from jaxseg.io.nifti import is_nifti


def read_input(input_path: str | Path, colour: str = "gray", max_voxels: int | None = None) -> Volume:
    """A NIfTI volume, a DICOM series folder, or a 2D image as a one-slice volume (see `jaxseg.data.images2d`),
    of at most `max_voxels` values (default `jaxseg.io.limits.MAX_VOXELS`)."""
    if Path(input_path).is_dir():
        return read_dicom_series(input_path, max_voxels=max_voxels)
    if is_nifti(input_path):
        return read_nifti(input_path, max_voxels)
    if is_planar_file(input_path):
        image = read_planar_image(input_path, max_voxels)
        return image_volume(image, image_channels(image, colour))
    raise ReadError(input_path, "unsupported input: give a NIfTI volume (.nii, .nii.gz), a DICOM series folder, or "
                                "a 2D image (.png, .jpg, .tif, .dcm)")


def is_planar_input(input_path: str | Path) -> bool:
    return is_planar_file(input_path) and not Path(input_path).is_dir()


def write_prediction(labels: Volume, source: Volume, input_path: str | Path, output_path: str | Path,
                     class_names: dict[int, str] | None = None) -> Path:
    """Write a label map computed on the canonical (RAS) grid of `source` (read from `input_path`) in
    the input's own geometry: a 2D image's size (a palette PNG/TIFF with a NAME.json naming
    `class_names`), a NIfTI file's header and axis order, or a DICOM series' affine."""
    if is_planar_input(input_path) or is_nifti(input_path):
        return write_label_map(labels, output_path, input_path, class_names)
    return write_label_map(labels.reoriented_like(source.affine, source.shape, str(input_path)), output_path)


# --format: a label map in the input's format (NIfTI, PNG/TIFF), or a DICOM SEG (BINARY, or FRACTIONAL probabilities).
OUTPUT_FORMATS = ("label-map", "dicom-seg", "dicom-seg-fractional")


def output_format(input_path: str | Path, output_path: str | Path, fmt: str | None = None) -> str:
    """The output format `fmt` asks for, checked against the input and the output's ending; by default
    the one the ending names: a .dcm output of a DICOM series folder is a DICOM SEG, else a label map
    (.nii/.nii.gz for volumes, .png/.tif for 2D images). ValueError for a mismatch."""
    is_series, is_dcm = Path(input_path).is_dir(), str(output_path).lower().endswith(".dcm")
    fmt = fmt or ("dicom-seg" if is_series and is_dcm else "label-map")
    if fmt not in OUTPUT_FORMATS:
        raise ValueError(f"output format {fmt!r}: choose one of {', '.join(OUTPUT_FORMATS)}")
    if fmt != "label-map" and not (is_series and is_dcm):
        raise ValueError(f"{output_path}: a DICOM SEG is written for a DICOM series folder, to a .dcm file "
                         f"(input {input_path})")
    expected = MASK_WRITE_SUFFIXES if is_planar_input(input_path) else (".nii", ".nii.gz")
    if fmt == "label-map" and not str(output_path).lower().endswith(expected):
        raise ValueError(f"{output_path}: the output for {input_path} must end in {' or '.join(expected)}")
    return fmt


def predict_file(predictor: Predictor, input_path: str | Path, output_path: str | Path,
                 class_names: dict[int, str] | None = None, fmt: str | None = None, step: int = 0) -> Path:
    """Segment an image with a segmentation predictor and write the label map in the input's geometry.

    INPUT is a NIfTI file (the output, .nii or .nii.gz, copies its header and axis order), a DICOM
    series folder (NIfTI output with the series' affine, in RAS+ mm), or a 2D image: PNG, JPEG,
    TIFF or a single DICOM image such as a radiograph (PNG or TIFF output of the input's size,
    with a NAME.json naming `class_names`). A 2D image becomes the channels the model was trained
    on (`layout.colour`). fmt (`output_format`): "dicom-seg" (the default for a series folder and a
    .dcm output) or "dicom-seg-fractional" write a DICOM SEG referencing the series
    (`write_dicom_seg`), identifying the algorithm by the checkpoint's `step`.
    """
    config = predictor.config
    fmt = output_format(input_path, output_path, fmt)
    source = read_input(input_path, config.layout.colour, config.io.max_voxels)
    channels = source.array.shape[-1] if source.array.ndim == 4 else 1
    if channels != config.model.in_channels:
        raise ReadError(input_path, f"has {channels} channel(s), the model takes {config.model.in_channels}")
    image, pad_value = prepare_image(source, config)
    labels, probabilities = predictor.segment(image, pad_value)
    if fmt != "label-map":
        return write_dicom_seg(Volume(labels, image.affine, str(input_path)), input_path, output_path, class_names,
                               step, probabilities if fmt == "dicom-seg-fractional" else None)
    return write_prediction(Volume(labels, image.affine, str(input_path)), source, input_path, output_path, class_names)
