"""`jaxseg predict`: one image file -> a label map in the image's own geometry."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from jaxseg.data.datasets import prepare_image
from jaxseg.evaluate import restore_for_inference
from jaxseg.io import ReadError, Volume, read_dicom_series, read_nifti, write_nifti
from jaxseg.io.nifti import is_nifti
from jaxseg.train.validation import segment_case


def read_input(input_path: str | Path, output_path: str | Path) -> tuple[Volume, str | Path | None]:
    """(volume as stored, the NIfTI file whose header the output copies, or None for DICOM) of a
    single-channel 3D INPUT: a NIfTI file or a DICOM series folder; checks OUTPUT is a NIfTI path."""
    if not is_nifti(output_path):
        raise ValueError(f"{output_path}: the output must be a .nii or .nii.gz path")
    if Path(input_path).is_dir():
        source, like = read_dicom_series(input_path), None
    elif is_nifti(input_path):
        source, like = read_nifti(input_path), input_path
    else:
        raise ReadError(input_path, "unsupported input: give a NIfTI volume (.nii, .nii.gz) or a DICOM series folder")
    if source.array.ndim != 3:
        raise ReadError(input_path, f"expected a single-channel 3D volume, got shape {source.array.shape}")
    return source, like


def write_label_map(labels: Volume, source: Volume, like: str | Path | None, output_path: str | Path) -> Path:
    """Write a label map computed on the canonical (RAS) grid of `source` in `source`'s own axis order:
    with `like`'s NIfTI header, or (DICOM input) with the series' affine."""
    if like is None:
        return write_nifti(labels.reoriented_like(source.affine, source.shape, source.source), output_path)
    return write_nifti(labels, output_path, like=like)


def predict_file(checkpoint: str | Path, input_path: str | Path, output_path: str | Path,
                 overrides: Sequence[str] = ()) -> Path:
    """Segment a volume with a checkpoint (run folder: its best; or a checkpoints/step folder) and
    write the label map as NIfTI in the input's geometry.

    INPUT is a NIfTI file (the output copies its header and axis order) or a DICOM series folder
    (the output carries the series' affine, in RAS+ mm). `overrides` change `inference.*` keys
    (mirroring, windows, post-processing) of the saved config.
    """
    source, like = read_input(input_path, output_path)
    config, state, _, mesh = restore_for_inference(checkpoint, overrides)
    if config.data.sampler == "pairs":
        raise ValueError(f"{checkpoint} holds a slice-propagation model (data.sampler = pairs): it needs an "
                         "annotated slice, use `jaxseg propagate`")
    image = prepare_image(source, config)
    labels, _ = segment_case(state, image.array, image.plane_axis(config.data.plane), config, mesh)
    return write_label_map(Volume(labels, image.affine), source, like, output_path)
