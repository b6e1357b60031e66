"""Validation during training: mean foreground Dice over whole held-out volumes (for propagation
models, of masks propagated from one annotated slice: `jaxseg.train.propagation`)."""

from __future__ import annotations

import functools

import jax
import ml_collections
import numpy as np
from jax.sharding import Mesh

from jaxseg.data.cases import LoadedCase
from jaxseg.inference import mirror_averaged
from jaxseg.inference.segment import label_map, volume_probabilities
from jaxseg.metrics import dice_score
from jaxseg.models import downsampling_factor
from jaxseg.train.propagation import validate_propagation
from jaxseg.train.state import TrainState
from jaxseg.train.step import predict_step


_predict = jax.jit(predict_step)


@functools.lru_cache(maxsize=8)
def _mirrored_predict(mirror_axes: tuple[int, ...]):
    return jax.jit(lambda state, images: mirror_averaged(lambda x: predict_step(state, x), mirror_axes)(images))


def batch_predictor(state: TrainState, mesh: Mesh, config: ml_collections.ConfigDict):
    """A host function images (B, *spatial, C) -> probabilities (B, *spatial, C_out), jit-compiled,
    mirrored over `inference.mirror_axes` when set.

    B is `inference.batch_size` rounded up to a multiple of the mesh size; returns (predict_fn, B).
    """
    axes = tuple(config.inference.mirror_axes)
    compiled = _mirrored_predict(axes) if axes else _predict

    def predict(images: np.ndarray) -> np.ndarray:
        return np.asarray(compiled(state, images))

    return predict, -(-config.inference.batch_size // mesh.size) * mesh.size


def segment_case(state: TrainState, image: np.ndarray, axis: int, config: ml_collections.ConfigDict,
                 mesh: Mesh) -> tuple[np.ndarray, np.ndarray]:
    """(label map (I, J, K) uint8, probabilities (I, J, K, C)) of a normalised volume (I, J, K)."""
    predict, batch = batch_predictor(state, mesh, config)
    probs = volume_probabilities(predict, image, axis, config.inference, batch, downsampling_factor(config.model))
    return label_map(probs, config.inference), probs


def validate(state: TrainState, cases: list[LoadedCase], config: ml_collections.ConfigDict, mesh: Mesh) -> float:
    """Mean over cases and foreground classes of the Dice of whole-volume predictions; for a
    propagation model (data.sampler = pairs), the mean one-shot Dice over cases and organs."""
    if config.data.sampler == "pairs":
        return validate_propagation(state, cases, config)
    scores = []
    for case in cases:
        axis = case.image.plane_axis(config.data.plane)
        labels, _ = segment_case(state, case.image.array, axis, config, mesh)
        truth = case.label.array
        scores += [dice_score(labels == c, truth == c) for c in range(1, config.model.num_classes)]
    return float(np.mean(scores))
