"""What one train step of a config costs at a given batch and input size: compile time, FLOPs,
memory (XLA's compiled memory analysis), wall time.

The step is the segmentation task's compiled step, the one `jaxseg train` runs, compiled for
abstract inputs (nothing is allocated until `time_steps`). Batches are random: the cost of these
convolutional networks does not depend on the values.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from jax.sharding import Mesh

from jaxseg.config import ConfigError
from jaxseg.core.mesh import batch_sharding, global_batch, mesh_from_config, replicated
from jaxseg.core.state import TrainState
from jaxseg.tasks import get_task
from jaxseg.tasks.segmentation import SegmentationTask
from jaxseg.train.build import build_state


@dataclasses.dataclass(frozen=True)
class StepMemory:
    """Bytes per device of one compiled train step: peak_bytes = arguments + outputs - donated
    (aliased) + temporaries (XLA's buffer assignment, liveness included). XLA's own
    `peak_memory_in_bytes` is kept apart (xla_peak_bytes): on CPU it leaves the temporaries out."""

    peak_bytes: int
    argument_bytes: int
    output_bytes: int
    alias_bytes: int
    temp_bytes: int
    xla_peak_bytes: int

    @classmethod
    def of(cls, compiled: jax.stages.Compiled) -> StepMemory:
        m = compiled.memory_analysis()
        summed = m.argument_size_in_bytes + m.output_size_in_bytes - m.alias_size_in_bytes + m.temp_size_in_bytes
        return cls(int(summed), m.argument_size_in_bytes, m.output_size_in_bytes, m.alias_size_in_bytes,
                   m.temp_size_in_bytes, int(getattr(m, "peak_memory_in_bytes", 0)))


def _abstract(tree, sharding):
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding), tree)


def lower_train_step(config: ml_collections.ConfigDict, batch_size: int, spatial: Sequence[int],
                     mesh: Mesh | None = None, state: TrainState | None = None) -> jax.stages.Lowered:
    """The config's train step lowered for a batch {"image": (batch_size, *spatial, in_channels) float32,
    "label": (batch_size, *spatial) int32}, state replicated and batch split over `mesh` (default:
    the config's `mesh`). Pass the `state` the step will run on (its optimiser is part of the
    compiled signature); without one, an abstract state stands in."""
    task = get_task(config.task)
    if not isinstance(task, SegmentationTask):  # a detection batch holds boxes, not label maps
        raise ConfigError(f"config '{config.name}' trains task = {config.task!r}: step costs are measured for "
                          "segmentation networks (image and label-map batches)")
    mesh = mesh or mesh_from_config(config.mesh)
    if state is None:
        state = jax.eval_shape(lambda: build_state(config, mesh, tuple(spatial)))
    state = _abstract(state, replicated(mesh))
    batch = _abstract({"image": jax.ShapeDtypeStruct((batch_size, *spatial, config.model.in_channels), jnp.float32),
                       "label": jax.ShapeDtypeStruct((batch_size, *spatial), jnp.int32)}, batch_sharding(mesh))
    # Equal class counts stand in for the data's (loss.bce_weights = inverse_frequency): weights do not change the cost.
    step = task.compile_step(config, mesh, [np.ones(config.model.num_classes, np.int64)])
    return step.lower(state, batch)


def compile_train_step_for(config: ml_collections.ConfigDict, batch_size: int, spatial: Sequence[int],
                           mesh: Mesh | None = None, state: TrainState | None = None
                           ) -> tuple[jax.stages.Compiled, float]:
    """The compiled train step (see `lower_train_step`) and its lowering + compile time in seconds."""
    start = time.perf_counter()
    compiled = lower_train_step(config, batch_size, spatial, mesh, state).compile()
    return compiled, time.perf_counter() - start


def step_memory(config: ml_collections.ConfigDict, batch_size: int, spatial: Sequence[int],
                mesh: Mesh | None = None) -> StepMemory:
    """Compiled memory analysis of the train step (per device; backend-dependent: XLA fuses and
    schedules differently on CPU and GPU, and cuDNN workspaces are not in the CPU figure)."""
    return StepMemory.of(compile_train_step_for(config, batch_size, spatial, mesh)[0])


def model_flops(config: ml_collections.ConfigDict, batch_size: int, spatial: Sequence[int],
                mesh: Mesh | None = None) -> float:
    """FLOPs of one train step (forward, backward, optimiser; a multiply-add counts 2) from XLA's cost
    analysis of the lowered step before backend optimisation, so the count is the same on every
    backend. Rematerialisation is switched off: MFU counts model FLOPs, not recomputed ones."""
    plain = ml_collections.ConfigDict(config.to_dict())
    plain.model.remat = False
    return float(lower_train_step(plain, batch_size, spatial, mesh).cost_analysis()["flops"])


def random_batch(config: ml_collections.ConfigDict, batch_size: int, spatial: Sequence[int], mesh: Mesh,
                 seed: int = 0) -> dict[str, jax.Array]:
    """A batch of standard-normal images and uniform labels in [0, model.num_classes), on the mesh."""
    rng = np.random.default_rng(seed)
    local = {"image": rng.standard_normal((batch_size, *spatial, config.model.in_channels), np.float32),
             "label": rng.integers(0, config.model.num_classes, (batch_size, *spatial), dtype=np.int32)}
    return global_batch(local, mesh)


def time_steps(compiled: jax.stages.Compiled, state: TrainState, batch: dict[str, jax.Array], steps: int,
               warmup: int = 1) -> tuple[list[float], list[float], TrainState]:
    """(wall seconds of each of `steps` steps after `warmup` untimed ones, loss of every step, final
    state), stepping `state` on one batch kept on the devices (input pipeline excluded). The state
    is donated: use the returned one."""
    seconds, losses = [], []
    for index in range(warmup + steps):
        start = time.perf_counter()
        state, metrics = compiled(state, batch)
        losses.append(float(jax.block_until_ready(metrics)["loss"]))
        if index >= warmup:
            seconds.append(time.perf_counter() - start)
    return seconds, losses, state
