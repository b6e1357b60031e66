"""Device meshes and shardings: the only place (with inference drivers) that decides placement."""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

DATA_AXIS = "data"


def make_mesh(data_devices: int = -1) -> Mesh:
    """A 1D mesh over the first `data_devices` devices of all processes (-1: all of them)."""
    devices = jax.devices()
    count = len(devices) if data_devices == -1 else data_devices
    if count > len(devices):
        raise ValueError(f"config key 'mesh.data' = {data_devices} exceeds the {len(devices)} available devices")
    return Mesh(np.asarray(devices[:count]), (DATA_AXIS,))


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Leading (batch) axis split over the data axis, the rest replicated."""
    return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())


def global_batch(local_batch: dict[str, np.ndarray], mesh: Mesh) -> dict[str, jax.Array]:
    """Host-local batch arrays -> global arrays sharded along the batch axis over the mesh."""
    sharding = batch_sharding(mesh)
    return {k: jax.make_array_from_process_local_data(sharding, v) for k, v in local_batch.items()}
