"""`jaxseg predict`: one image file -> a label map in the image's own geometry."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from jaxseg.data.datasets import prepare_image
from jaxseg.evaluate import restore_for_inference
from jaxseg.io import ReadError, Volume, read_dicom_series, read_nifti, write_nifti
from jaxseg.io.nifti import is_nifti
from jaxseg.train.validation import segment_case


def predict_file(checkpoint: str | Path, input_path: str | Path, output_path: str | Path,
                 overrides: Sequence[str] = ()) -> Path:
    """Segment a volume with a checkpoint (run folder: its best; or a checkpoints/step folder) and
    write the label map as NIfTI in the input's geometry.

    INPUT is a NIfTI file (the output copies its header and axis order) or a DICOM series folder
    (the output carries the series' affine, in RAS+ mm). `overrides` change `inference.*` keys
    (mirroring, windows, post-processing) of the saved config.
    """
    if not is_nifti(output_path):
        raise ValueError(f"{output_path}: the output must be a .nii or .nii.gz path")
    if Path(input_path).is_dir():
        source, like = read_dicom_series(input_path), None
    elif is_nifti(input_path):
        source, like = read_nifti(input_path), input_path
    else:
        raise ReadError(input_path, "unsupported input: give a NIfTI volume (.nii, .nii.gz) or a DICOM series folder")
    config, state, _, mesh = restore_for_inference(checkpoint, overrides)
    if source.array.ndim != 3:
        raise ReadError(input_path, f"expected a single-channel 3D volume, got shape {source.array.shape}")
    image = prepare_image(source, config)
    labels, _ = segment_case(state, image.array, image.plane_axis(config.data.plane), config, mesh)
    prediction = Volume(labels, image.affine)
    if like is None:
        return write_nifti(prediction.reoriented_like(source.affine, source.shape, str(input_path)), output_path)
    return write_nifti(prediction, output_path, like=like)
