"""`jaxseg export`: a trained model as one self-contained inference file, and prediction from it.

The file (MODEL.jaxseg) is a zip archive of
- predict.stablehlo: the predict function `(variables, images (B, *spatial, C_in)) -> probabilities
  (B, *spatial, C)` serialised by `jax.export` (StableHLO, lowered for CPU and CUDA) with a symbolic
  batch size B and the spatial shapes it takes: any multiple of the network's downsampling
  factor per axis for whole slices (inference.mode = slices), else the fixed window (roi_size) or
  overlap tile; the test-time mirroring of the checkpoint's config is part of it;
- variables.msgpack: the parameters and batch statistics (flax msgpack);
- metadata.json: format version, jaxseg version, checkpoint step, the input spec, the
  preprocessing summary (model grid spacing, normalisation, channels, classes) and the run's whole
  config, from which preprocessing and inference settings are read; the network itself is never
  rebuilt from it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import ml_collections
import numpy as np
from flax import serialization
from flax.core import unfreeze

import jaxseg
from jaxseg.config.loading import config_from_json
from jaxseg.data.datasets import prepare_image
from jaxseg.data.folders import class_labels
from jaxseg.inference.predictor import probability_function, segment_volume
from jaxseg.io import ReadError, Volume
from jaxseg.io.atomic import atomic_path
from jaxseg.models.facts import NetworkFacts
from jaxseg.train.restore import restore

FORMAT_VERSION = 1
PLATFORMS = ("cpu", "cuda")
MEMBERS = ("predict.stablehlo", "variables.msgpack", "metadata.json")


def _input_spec(config: ml_collections.ConfigDict, facts: NetworkFacts) -> str:
    """The `jax.export.symbolic_shape` spec of the images the predict function takes."""
    if facts.tile is not None:
        spatial = [str(facts.tile[0])] * 2
    elif config.inference.mode == "sliding_window":
        spatial = [str(n) for n in config.inference.roi_size]
    else:  # whole slices, padded by `predict_by_slices` to a multiple of the downsampling factor
        spatial = [f"{facts.pad_multiple}*h", f"{facts.pad_multiple}*w"]
    return ", ".join(["b", *spatial, str(config.model.in_channels)])


def export_model(checkpoint: str | Path, out: str | Path, overrides: Sequence[str] = ()) -> Path:
    """Write the checkpoint's model (run folder: its best; or a step folder) as one MODEL.jaxseg file
    (see the module docstring). `overrides`: `inference.*` keys, fixed into the file (mirroring,
    window, post-processing). Other tasks' models (propagation, detection) are refused."""
    run = restore(checkpoint, overrides=overrides)
    config, state, step = run.config, run.state, run.step
    if config.task != "segmentation":
        raise ValueError(f"{checkpoint} holds a {config.task} model: export covers segmentation models")
    facts = NetworkFacts.of(config)
    spec = _input_spec(config, facts)
    variables = unfreeze(jax.device_get({"params": state.params, "batch_stats": state.batch_stats}))
    function = jax.jit(probability_function(state.apply_fn, facts.head, tuple(config.inference.mirror_axes)))
    images = jax.ShapeDtypeStruct(jax.export.symbolic_shape(spec), np.float32)
    exported = jax.export.export(function, platforms=PLATFORMS)(
        jax.tree.map(lambda a: jax.ShapeDtypeStruct(np.shape(a), np.asarray(a).dtype), variables), images)
    names = class_labels(tuple(config.layout.class_names), config.model.num_classes)
    metadata = {
        "format_version": FORMAT_VERSION,
        "jaxseg_version": jaxseg.__version__,
        "checkpoint": str(checkpoint),
        "checkpoint_step": int(step),
        "input": {"shape": spec, "dtype": "float32", "pad_multiple": facts.pad_multiple,
                  "overlap_tile": list(facts.tile) if facts.tile else None, "platforms": list(PLATFORMS)},
        "preprocessing": {"spacing_mm": list(config.prepare.spacing_mm) if config.prepare.spacing_mm else None,
                          "slice_size": list(config.prepare.slice_size) if config.prepare.slice_size else None,
                          "normalize": config.data.normalize, "plane": config.data.plane,
                          "in_channels": config.model.in_channels},
        "classes": {str(k): v for k, v in names.items()},
        "activation": facts.head,
        "config": json.loads(config.to_json()),
    }
    out = Path(out)
    with atomic_path(out) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("predict.stablehlo", bytes(exported.serialize()))
        archive.writestr("variables.msgpack", serialization.msgpack_serialize(variables))
        archive.writestr("metadata.json", json.dumps(metadata, indent=1))
    return out


@dataclasses.dataclass(frozen=True)
class ExportedModel:
    """A MODEL.jaxseg file read back: the deserialised function, its variables and metadata."""

    exported: jax.export.Exported
    variables: Any
    metadata: dict
    config: ml_collections.ConfigDict

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Probabilities (B, *spatial, C) of images (B, *spatial, C_in) float32."""
        return np.asarray(self.exported.call(self.variables, np.asarray(images, np.float32)))

    @property
    def step(self) -> int:
        return int(self.metadata["checkpoint_step"])

    @property
    def class_names(self) -> dict[int, str]:
        return {int(k): v for k, v in self.metadata["classes"].items()}


def load_model(path: str | os.PathLike) -> ExportedModel:
    """Read a MODEL.jaxseg file written by `export_model`; ReadError naming the file when it is not one."""
    path = Path(path)
    if not path.is_file():
        raise ReadError(path, "no such model file")
    try:
        with zipfile.ZipFile(path) as archive:
            missing = [m for m in MEMBERS if m not in archive.namelist()]
            if missing:
                raise ReadError(path, f"not a jaxseg model: it lacks {', '.join(missing)} "
                                      "(write one with jaxseg export)")
            metadata = json.loads(archive.read("metadata.json"))
            blob, packed = archive.read("predict.stablehlo"), archive.read("variables.msgpack")
    except zipfile.BadZipFile as err:
        raise ReadError(path, f"not a jaxseg model (jaxseg export writes a zip archive): {err}") from err
    if metadata.get("format_version") != FORMAT_VERSION:
        raise ReadError(path, f"model format {metadata.get('format_version')}; this jaxseg reads {FORMAT_VERSION}")
    return ExportedModel(jax.export.deserialize(bytearray(blob)), serialization.msgpack_restore(packed), metadata,
                         config_from_json(json.dumps(metadata["config"])))


def segment_image(model: ExportedModel, image: Volume, pad_value: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(label map (I, J, K) uint8, probabilities (I, J, K, C)) of a volume prepared by `prepare_image`:
    `jaxseg.inference.predictor.segment_volume` with the exported function."""
    tile = model.metadata["input"]["overlap_tile"]
    return segment_volume(model.predict, model.config, image, pad_value, model.config.inference.batch_size,
                          model.metadata["input"]["pad_multiple"], tuple(tile) if tile else None,
                          model.metadata["activation"])


def predict_with_model(model_path: str | Path, input_path: str | Path, output_path: str | Path,
                       fmt: str | None = None) -> Path:
    """`jaxseg predict --model`: as `jaxseg.predict.predict_file`, with an exported model instead of a checkpoint."""
    from jaxseg.io.dicom_seg_write import write_dicom_seg
    from jaxseg.predict import output_format, read_input, write_prediction

    fmt = output_format(input_path, output_path, fmt)
    model = load_model(model_path)
    config = model.config
    source = read_input(input_path, config.layout.colour, config.io.max_voxels)
    channels = source.array.shape[-1] if source.array.ndim == 4 else 1
    if channels != config.model.in_channels:
        raise ReadError(input_path, f"has {channels} channel(s), the model takes {config.model.in_channels}")
    image, pad_value = prepare_image(source, config)
    labels, probabilities = segment_image(model, image, pad_value)
    predicted = Volume(labels, image.affine, str(input_path))
    if fmt != "label-map":
        return write_dicom_seg(predicted, input_path, output_path, model.class_names, model.step,
                               probabilities if fmt == "dicom-seg-fractional" else None)
    return write_prediction(predicted, source, input_path, output_path, model.class_names)
