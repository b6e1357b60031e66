"""Validation during training: mean foreground Dice and IoU over whole held-out volumes (for
propagation models, Dice of masks propagated from one annotated slice: `jaxseg.train.propagation`)."""

from __future__ import annotations

import functools
from functools import partial

import jax
import ml_collections
import numpy as np
from jax.sharding import Mesh

from jaxseg.data.cases import LoadedCase
from jaxseg.data.preprocess import model_grid_shape
from jaxseg.inference import mirror_averaged
from jaxseg.inference.segment import label_map, volume_probabilities
from jaxseg.io import Volume
from jaxseg.metrics import dice_score, iou_score
from jaxseg.models import downsampling_factor, model_head, overlap_tile
from jaxseg.train.mesh import data_parallel_size
from jaxseg.train.propagation import validate_propagation
from jaxseg.train.state import TrainState
from jaxseg.train.step import predict_step


_predict = jax.jit(predict_step, static_argnames="activation")


@functools.lru_cache(maxsize=8)
def _mirrored_predict(mirror_axes: tuple[int, ...], activation: str):
    return jax.jit(lambda state, images: mirror_averaged(lambda x: predict_step(state, x, activation),
                                                         mirror_axes)(images))


def batch_predictor(state: TrainState, mesh: Mesh, config: ml_collections.ConfigDict):
    """A host function images (B, *spatial, C) -> probabilities (B, *spatial, C_out), jit-compiled,
    mirrored over `inference.mirror_axes` when set.

    B is `inference.batch_size` rounded up to a multiple of the mesh's data axis; returns (predict_fn, B).
    """
    axes, activation = tuple(config.inference.mirror_axes), model_head(config.model)
    compiled = _mirrored_predict(axes, activation) if axes else partial(_predict, activation=activation)

    def predict(images: np.ndarray) -> np.ndarray:
        return np.asarray(compiled(state, images))

    data = data_parallel_size(mesh)
    return predict, -(-config.inference.batch_size // data) * data


def segment_case(state: TrainState, image: Volume, config: ml_collections.ConfigDict, mesh: Mesh,
                 pad_value: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(label map (I, J, K) uint8, probabilities (I, J, K, C)) of a normalised volume, array (I, J, K) or
    (I, J, K, C_in) on its own grid (predicted on the grid the model was trained on, then brought back);
    `pad_value`: the value of empty space per channel (`LoadedCase.pad_value`)."""
    predict, batch = batch_predictor(state, mesh, config)
    axis = image.plane_axis(config.data.plane)
    model_shape = model_grid_shape(image.array.shape[:3], image.spacing, axis, config.prepare)
    probs = volume_probabilities(predict, image.array, axis, config.inference, batch, downsampling_factor(config.model),
                                 np.asarray(pad_value, np.float32), model_shape,
                                 overlap_tile(config.model, config.sampling.tile_size))
    return label_map(probs, config.inference, model_head(config.model)), probs


def validate(state: TrainState, cases: list[LoadedCase], config: ml_collections.ConfigDict,
             mesh: Mesh) -> dict[str, float]:
    """{"val_dice", "val_iou"}: means over cases and foreground classes of whole-volume predictions;
    for a propagation model (data.sampler = pairs), {"val_dice"}: the mean one-shot Dice over cases and organs."""
    if config.data.sampler == "pairs":
        return {"val_dice": validate_propagation(state, cases, config)}
    dice, iou = [], []
    for case in cases:
        labels, _ = segment_case(state, case.image, config, mesh, case.pad_value)
        truth = case.label.array
        for c in range(1, config.model.num_classes):
            dice.append(dice_score(labels == c, truth == c))
            iou.append(iou_score(labels == c, truth == c))
    return {"val_dice": float(np.mean(dice)), "val_iou": float(np.mean(iou))}
