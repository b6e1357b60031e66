"""Validation during training: mean foreground Dice over whole held-out volumes."""

from __future__ import annotations

import jax
import ml_collections
import numpy as np
from jax.sharding import Mesh

from jaxseg.data.cases import LoadedCase
from jaxseg.inference import predict_by_slices
from jaxseg.metrics import dice_score
from jaxseg.models import downsampling_factor
from jaxseg.train.state import TrainState
from jaxseg.train.step import predict_step


_predict = jax.jit(predict_step)


def slice_predictor(state: TrainState, mesh: Mesh, batch_size: int):
    """A host function images (B, H, W, C) -> probabilities (B, H, W, C_out), jit-compiled.

    B is `batch_size` rounded up to a multiple of the mesh size; returns (predict_fn, B).
    """

    def predict(images: np.ndarray) -> np.ndarray:
        return np.asarray(_predict(state, images))

    return predict, -(-batch_size // mesh.size) * mesh.size


def segment_case(state: TrainState, image: np.ndarray, axis: int, config: ml_collections.ConfigDict,
                 mesh: Mesh) -> tuple[np.ndarray, np.ndarray]:
    """(label map (I, J, K) uint8, probabilities (I, J, K, C)) of a normalised volume."""
    predict, batch = slice_predictor(state, mesh, config.evaluate.batch_size)
    probs = predict_by_slices(predict, image, axis, batch, downsampling_factor(config.model))
    return probs.argmax(-1).astype(np.uint8), probs


def validate(state: TrainState, cases: list[LoadedCase], config: ml_collections.ConfigDict, mesh: Mesh) -> float:
    """Mean over cases and foreground classes of the Dice of whole-volume predictions."""
    scores = []
    for case in cases:
        axis = case.image.plane_axis(config.data.plane)
        labels, _ = segment_case(state, case.image.array, axis, config, mesh)
        truth = case.label.array
        scores += [dice_score(labels == c, truth == c) for c in range(1, config.model.num_classes)]
    return float(np.mean(scores))
