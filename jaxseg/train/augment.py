"""Device augmentation (`augment.device`) jit-compiled over the mesh and run before each train step."""

from __future__ import annotations

import jax
from jax.sharding import Mesh

from jaxseg.core.mesh import batch_sharding, replicated
from jaxseg.data.device_augment import DeviceAugmentation


def compile_augmentation(augmentation: DeviceAugmentation, mesh: Mesh):
    """augmentation(key_data, step, batch) jit-compiled: key and step replicated, the batch in and out
    split like the train step's batch (each device augments its own samples)."""
    return jax.jit(augmentation, in_shardings=(replicated(mesh), replicated(mesh), batch_sharding(mesh)),
                   out_shardings=batch_sharding(mesh))


def with_augmentation(step_fn, augment_fn):
    """step_fn(state, batch) preceded by augment_fn(state.rng, state.step, batch): the samples of step s
    are augmented with keys from the state's key and s, so a resumed run repeats them exactly."""

    def step(state, batch):
        return step_fn(state, augment_fn(state.rng, state.step, batch))

    return step
