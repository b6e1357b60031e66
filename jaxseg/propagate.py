"""`jaxseg propagate`: one annotated slice of a volume -> the object segmented through the volume (seed 004).

Slices are those of the model's plane (its config's data.plane), numbered from the patient's
left (sagittal), posterior (coronal) or inferior (axial) side, whatever the file's axis order: the
numbering of `Volume.plane_slice`. A mask is either a label volume on INPUT's grid (NIfTI, NRRD
or DICOM SEG; only the given slice of it is read) or a 2D image (PNG, TIFF, ...) of that slice
laid out as `Volume.plane_slice` displays it (axial: anterior up, the patient's right on the left).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from jaxseg.data.cases import read_label
from jaxseg.data.datasets import prepare_image
from jaxseg.data.slices import plane_stack
from jaxseg.inference import propagate
from jaxseg.inference.propagation_model import model_mask_step
from jaxseg.io import ReadError, Volume, check_same_grid, read_mask
from jaxseg.io.image2d import is_image_file
from jaxseg.io.nifti import is_nifti
from jaxseg.models.facts import NetworkFacts
from jaxseg.predict import is_planar_input, read_input, write_prediction
from jaxseg.train.restore import restore


def _display_order(image: Volume, plane: str) -> np.ndarray:
    """(H, W) indices into a flattened slice of `image` (canonical, RAS) along `plane`, in the layout
    `Volume.plane_slice` displays it: display[r, c] is slice.flat[order[r, c]]."""
    axis = image.plane_axis(plane)
    shape = tuple(1 if a == axis else n for a, n in enumerate(image.shape))
    return Volume(np.arange(int(np.prod(shape))).reshape(shape), image.affine).plane_slice(plane, 0)


def read_slice_mask(path: str | Path, source: Volume, image: Volume, plane: str, index: int,
                    label: int | None) -> np.ndarray:
    """The object's mask on slice `index` of `image` along `plane`: (H, W) bool, laid out as
    `plane_stack` of the canonical volume lays out that slice.

    source: INPUT as read (a label volume must hold the same voxels, in any axis order); image: the
    same voxels on the canonical grid. label: the value marking the object (None: any non-zero).
    """
    path = Path(path)
    axis = image.plane_axis(plane)
    if is_image_file(path):
        drawn = read_mask(path).array
        order = _display_order(image, plane)
        if drawn.shape != order.shape:
            raise ReadError(path, f"is {drawn.shape[0]} x {drawn.shape[1]} pixels; the {plane} slices of "
                                  f"{source.source} are {order.shape[0]} x {order.shape[1]} as displayed")
        values = np.zeros(np.take(image.array, 0, axis=axis).shape, drawn.dtype)
        values.flat[order] = drawn
    else:
        volume = read_label(path, source)
        if volume.array.ndim != 3:
            raise ReadError(path, f"expected a 3D label map, got shape {volume.array.shape}")
        canonical = volume.as_canonical()
        check_same_grid(image, canonical)
        values = np.take(canonical.array, index, axis=axis)
    mask = values == label if label is not None else values != 0
    if not mask.any():
        what = f"label {label}" if label is not None else "a non-zero voxel"
        raise ReadError(path, f"{plane} slice {index} holds no {what}: nothing to propagate")
    return mask


def correction_files(folder: str | Path) -> dict[int, Path]:
    """{slice index: file} of a folder of corrected slices named by their index (17.png, 17.nii.gz)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ReadError(folder, "the corrections must be a folder of masks named by slice index (17.png, 17.nii.gz)")
    found: dict[int, Path] = {}
    for path in sorted(p for p in folder.iterdir() if not p.name.startswith(".")):
        stem = path.name.split(".")[0]
        if not stem.isdigit():
            raise ReadError(path, "a correction file is named by its slice index, for example 17.png or 17.nii.gz")
        if int(stem) in found:
            raise ReadError(path, f"slice {int(stem)} is also corrected by {found[int(stem)].name}")
        found[int(stem)] = path
    return found


def propagate_file(checkpoint: str | Path, input_path: str | Path, start_slice: int, start_mask: str | Path,
                   output_path: str | Path, corrections: str | Path | None = None, label: int | None = None,
                   overrides: Sequence[str] = ()) -> Path:
    """Propagate the object of `start_mask` on slice `start_slice` through INPUT and write its mask.

    checkpoint: a slice-propagation run (its best checkpoint) or a checkpoints/step folder. INPUT:
    a NIfTI file or a DICOM series folder; OUTPUT: NIfTI in INPUT's geometry, the object labelled
    `label` (or 1). corrections: a folder of corrected slices (see `correction_files`), each kept
    as given and propagated outward from, away from the start slice. `overrides` change
    `inference.*`/`propagation.*` keys of the saved config (propagation.stop_after_empty, inference.threshold).
    """
    if label is not None and not 0 < label < 256:
        raise ValueError(f"label {label} must be in 1..255 (the output is a uint8 label map)")
    if not is_nifti(output_path):
        raise ValueError(f"{output_path}: the output must be a .nii or .nii.gz path")
    source = read_input(input_path)
    if source.array.ndim != 3 or is_planar_input(input_path):
        raise ReadError(input_path, f"expected a single-channel 3D volume, got shape {source.array.shape}")
    run = restore(checkpoint, overrides=overrides)
    config, state = run.config, run.state
    if config.task != "propagation":
        raise ValueError(f"{checkpoint} holds a {config.task} model (task = {config.task}), not a slice-propagation "
                         "one: use `jaxseg predict`")
    image, pad_value = prepare_image(source, config)
    plane = config.data.plane
    axis = image.plane_axis(plane)
    slices = {start_slice: start_mask}
    for index, path in (correction_files(corrections) if corrections else {}).items():
        if index in slices:
            raise ReadError(path, f"corrects the start slice {index}, which --start-mask already gives")
        slices[index] = path
    for index, path in slices.items():
        if not 0 <= index < image.shape[axis]:
            raise ValueError(f"slice {index} ({path}) is outside the {image.shape[axis]} {plane} slices of "
                             f"{input_path}")
    masks = {index: read_slice_mask(path, source, image, plane, index, label) for index, path in slices.items()}
    facts = NetworkFacts.of(config)
    step_fn = model_mask_step(state, facts.pad_multiple, pad_value[0], facts.head)
    stack = propagate(step_fn, plane_stack(image.array, axis), start_slice, masks, config.propagation.stop_after_empty,
                      config.inference.threshold)
    labels = np.moveaxis(stack, 0, axis) * np.uint8(1 if label is None else label)
    return write_prediction(Volume(np.ascontiguousarray(labels), image.affine), source, input_path, output_path)
