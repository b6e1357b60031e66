"""`jaxseg predict`: one image file -> a label map in the image's own geometry."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from jaxseg.data.cases import prepare_image
from jaxseg.evaluate import restore_for_inference, write_prediction
from jaxseg.io import ReadError, read_nifti
from jaxseg.io.nifti import is_nifti
from jaxseg.train.validation import segment_case


def predict_file(checkpoint: str | Path, input_path: str | Path, output_path: str | Path,
                 overrides: Sequence[str] = ()) -> Path:
    """Segment a NIfTI volume with a checkpoint (run folder: its best; or a checkpoints/step folder)
    and write the label map as NIfTI with the input's affine and orientation. `overrides` change
    `inference.*` keys (mirroring, windows, post-processing) of the saved config."""
    if not is_nifti(input_path):
        raise ReadError(input_path, "unsupported input: jaxseg predict reads NIfTI volumes (.nii, .nii.gz)")
    if not is_nifti(output_path):
        raise ValueError(f"{output_path}: the output must be a .nii or .nii.gz path")
    config, state, _, mesh = restore_for_inference(checkpoint, overrides)
    source = read_nifti(input_path)
    if source.array.ndim != 3:
        raise ReadError(input_path, f"expected a single-channel 3D volume, got shape {source.array.shape}")
    image = prepare_image(source, tuple(config.data.clip_hu))
    labels, _ = segment_case(state, image.array, image.plane_axis(config.data.plane), config, mesh)
    return write_prediction(labels, image.affine, source.affine, Path(output_path))
