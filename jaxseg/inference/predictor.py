"""`Predictor`: a model's state and config, with its probability function jit-compiled over a mesh.

The batch of windows (sliding window) or slices (whole-slice inference) is split along the mesh's
data axis, so N devices each compute 1/N of it; the probabilities come back whole to the host.
Each Predictor compiles its own function once; `with_state` swaps the weights (the next validation
during training) without compiling again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import ml_collections
import numpy as np
from jax.sharding import Mesh

from jaxseg.core.mesh import data_parallel_size, replicated, replicated_on, sample_sharding
from jaxseg.core.state import TrainState, model_variables
from jaxseg.data.preprocess import model_grid_shape
from jaxseg.inference.mirroring import mirror_averaged
from jaxseg.inference.segment import label_map, volume_probabilities
from jaxseg.io import Volume
from jaxseg.models import downsampling_factor, model_head, overlap_tile


def predict_step(state: TrainState, images: jax.Array, activation: str = "softmax") -> jax.Array:
    """Probabilities (N, *spatial, C) for images (N, *spatial, C_in), inference mode: a softmax over
    classes, or a sigmoid per output (`activation` = the model's head)."""
    logits = state.apply_fn(model_variables(state), images, train=False)
    return jax.nn.sigmoid(logits) if activation == "sigmoid" else jax.nn.softmax(logits, axis=-1)


def compile_probabilities(mesh: Mesh, activation: str, mirror_axes: tuple[int, ...] = ()) -> Callable:
    """(state replicated on `mesh`, images (B, *spatial, C_in)) -> probabilities (B, *spatial, C),
    jit-compiled with the images split along the data axis (B a multiple of its size) and the
    result gathered whole; averaged over mirrorings of `mirror_axes` (spatial axes) when given."""
    def probabilities(state: TrainState, images: jax.Array) -> jax.Array:
        forward = lambda x: predict_step(state, x, activation)  # noqa: E731
        return mirror_averaged(forward, mirror_axes)(images) if mirror_axes else forward(images)

    return jax.jit(probabilities, in_shardings=(replicated(mesh), sample_sharding(mesh)),
                   out_shardings=replicated(mesh))


@dataclasses.dataclass(frozen=True)
class Predictor:
    """Whole-case segmentation with one model: `segment` a normalised volume as the config's
    `inference` section says (slices, sliding window or overlap-tile; mirroring; post-processing).

    Build it with `Predictor.create(config, state, mesh)`: `mesh` must hold only this process's
    devices (`jaxseg.core.mesh.local_mesh`), since each process predicts its own cases.
    batch_size: windows or slices per device call, `inference.batch_size` rounded up to a multiple
    of the data axis.
    """

    config: ml_collections.ConfigDict
    state: TrainState
    mesh: Mesh
    batch_size: int
    compiled: Callable = dataclasses.field(repr=False)

    @classmethod
    def create(cls, config: ml_collections.ConfigDict, state: TrainState, mesh: Mesh) -> Predictor:
        if any(d.process_index != jax.process_index() for d in mesh.devices.flat):
            raise ValueError("a Predictor's mesh must hold only this process's devices (jaxseg.core.mesh.local_mesh)")
        data = data_parallel_size(mesh)
        compiled = compile_probabilities(mesh, model_head(config.model), tuple(config.inference.mirror_axes))
        return cls(config, replicated_on(state, mesh), mesh, -(-config.inference.batch_size // data) * data, compiled)

    def with_state(self, state: TrainState) -> Predictor:
        """The same predictor (and compilation) with other weights."""
        return dataclasses.replace(self, state=replicated_on(state, self.mesh))

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """Probabilities (B, *spatial, C) float32 of images (B, *spatial, C_in), B = `batch_size`."""
        return np.asarray(self.compiled(self.state, images))

    def segment(self, image: Volume, pad_value: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
        """(label map (I, J, K) uint8, probabilities (I, J, K, C)) of a normalised volume, array (I, J, K)
        or (I, J, K, C_in) on its own grid (predicted on the grid the model was trained on, then brought
        back); `pad_value`: the value of empty space per channel (`LoadedCase.pad_value`)."""
        config = self.config
        axis = image.plane_axis(config.data.plane)
        model_shape = model_grid_shape(image.array.shape[:3], image.spacing, axis, config.prepare)
        probs = volume_probabilities(self.probabilities, image.array, axis, config.inference, self.batch_size,
                                     downsampling_factor(config.model), np.asarray(pad_value, np.float32),
                                     model_shape, overlap_tile(config.model, config.sampling.tile_size))
        return label_map(probs, config.inference, model_head(config.model)), probs
