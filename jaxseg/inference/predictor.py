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
from jaxseg.models.facts import NetworkFacts


def probability_function(apply_fn: Callable, activation: str = "softmax",
                         mirror_axes: tuple[int, ...] = ()) -> Callable[[dict, jax.Array], jax.Array]:
    """(variables, images (N, *spatial, C_in)) -> probabilities (N, *spatial, C), inference mode: a
    softmax over classes, or a sigmoid per output (`activation` = the model's head); averaged over
    the mirrorings of `mirror_axes` (spatial axes) when given. Pure: jit it, or export it."""
    def probabilities(variables: dict, images: jax.Array) -> jax.Array:
        logits = apply_fn(variables, images, train=False)
        return jax.nn.sigmoid(logits) if activation == "sigmoid" else jax.nn.softmax(logits, axis=-1)

    if not mirror_axes:
        return probabilities
    return lambda variables, images: mirror_averaged(lambda x: probabilities(variables, x), mirror_axes)(images)


def predict_step(state: TrainState, images: jax.Array, activation: str = "softmax") -> jax.Array:
    """`probability_function` of a state's model and variables, without mirroring."""
    return probability_function(state.apply_fn, activation)(model_variables(state), images)


def compile_probabilities(mesh: Mesh, activation: str, mirror_axes: tuple[int, ...] = ()) -> Callable:
    """(state replicated on `mesh`, images (B, *spatial, C_in)) -> probabilities (B, *spatial, C),
    jit-compiled with the images split along the data axis (B a multiple of its size) and the
    result gathered whole."""
    def probabilities(state: TrainState, images: jax.Array) -> jax.Array:
        return probability_function(state.apply_fn, activation, mirror_axes)(model_variables(state), images)

    return jax.jit(probabilities, in_shardings=(replicated(mesh), sample_sharding(mesh)),
                   out_shardings=replicated(mesh))


def segment_volume(probabilities: Callable[[np.ndarray], np.ndarray], config: ml_collections.ConfigDict,
                   image: Volume, pad_value: tuple[float, ...], batch_size: int, pad_multiple: int,
                   tile: tuple[int, int, int] | None, activation: str) -> tuple[np.ndarray, np.ndarray]:
    """(label map (I, J, K) uint8, probabilities (I, J, K, C)) of a normalised volume, array (I, J, K)
    or (I, J, K, C_in) on its own grid, with probabilities(images (batch_size, *spatial, C_in)):
    predicted on the grid the model was trained on, then brought back; `pad_value`: the value of
    empty space per channel (`LoadedCase.pad_value`). The rest as the config's `inference` says."""
    axis = image.plane_axis(config.data.plane)
    model_shape = model_grid_shape(image.array.shape[:3], image.spacing, axis, config.prepare)
    probs = volume_probabilities(probabilities, image.array, axis, config.inference, batch_size, pad_multiple,
                                 np.asarray(pad_value, np.float32), model_shape, tile)
    return label_map(probs, config.inference, activation), probs


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
    facts: NetworkFacts
    compiled: Callable = dataclasses.field(repr=False)

    @classmethod
    def create(cls, config: ml_collections.ConfigDict, state: TrainState, mesh: Mesh) -> Predictor:
        if any(d.process_index != jax.process_index() for d in mesh.devices.flat):
            raise ValueError("a Predictor's mesh must hold only this process's devices (jaxseg.core.mesh.local_mesh)")
        data, facts = data_parallel_size(mesh), NetworkFacts.of(config)
        compiled = compile_probabilities(mesh, facts.head, tuple(config.inference.mirror_axes))
        return cls(config, replicated_on(state, mesh), mesh, -(-config.inference.batch_size // data) * data, facts,
                   compiled)

    def with_state(self, state: TrainState) -> Predictor:
        """The same predictor (and compilation) with other weights."""
        return dataclasses.replace(self, state=replicated_on(state, self.mesh))

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """Probabilities (B, *spatial, C) float32 of images (B, *spatial, C_in), B = `batch_size`."""
        # Placed first: in a multi-process job jit takes no host array with a non-replicated sharding.
        return np.asarray(self.compiled(self.state, jax.device_put(images, sample_sharding(self.mesh))))

    def segment(self, image: Volume, pad_value: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
        """`segment_volume` with this model: (label map (I, J, K) uint8, probabilities (I, J, K, C))."""
        facts = self.facts
        return segment_volume(self.probabilities, self.config, image, pad_value, self.batch_size, facts.pad_multiple,
                              facts.tile, facts.head)
