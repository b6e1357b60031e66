"""Device meshes and shardings: the only place (with inference drivers) that decides placement.

The mesh has two axes: "data" splits the batch, "space" splits the first spatial axis of every
batch array (D of (N, D, H, W, C)): a 3D volume too large for one device is cut into slabs, and
GSPMD inserts the halo exchanges the convolutions need. Devices next to each other on the space
axis are consecutive devices, hence on one host where possible, so halos stay off the network.
"""

from __future__ import annotations

import jax
import ml_collections
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxseg.config import ConfigError

DATA_AXIS, SPACE_AXIS = "data", "space"


def make_mesh(data_devices: int = -1, spatial_devices: int = 1) -> Mesh:
    """A (data, space) mesh over the first data_devices x spatial_devices devices of all processes.

    data_devices -1 means every device not on the space axis. ValueError naming the config key
    when the devices do not divide.
    """
    devices = jax.devices()
    if spatial_devices < 1 or len(devices) % spatial_devices:
        raise ValueError(f"config key 'mesh.spatial' = {spatial_devices} does not divide the "
                         f"{len(devices)} devices")
    if jax.local_device_count() % spatial_devices:
        raise ValueError(f"config key 'mesh.spatial' = {spatial_devices} must divide the {jax.local_device_count()} "
                         "devices of each process: a volume's slabs stay on one host")
    data = len(devices) // spatial_devices if data_devices == -1 else data_devices
    if data * spatial_devices > len(devices):
        raise ValueError(f"config keys 'mesh.data' = {data_devices} x 'mesh.spatial' = {spatial_devices} "
                         f"exceed the {len(devices)} available devices")
    grid = np.asarray(devices[: data * spatial_devices]).reshape(data, spatial_devices)
    return Mesh(grid, (DATA_AXIS, SPACE_AXIS))


def mesh_from_config(mesh_config: ml_collections.ConfigDict) -> Mesh:
    """The mesh of a config's `mesh` section; ConfigError when it does not fit the devices."""
    try:
        return make_mesh(mesh_config.data, mesh_config.spatial)
    except ValueError as err:
        raise ConfigError(str(err)) from None


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Batch axis split over "data", the first spatial axis over "space" (when it has more than one
    device: batches may then hold only arrays with a spatial axis), the rest replicated."""
    if mesh.shape[SPACE_AXIS] == 1:
        return NamedSharding(mesh, PartitionSpec(DATA_AXIS))
    return NamedSharding(mesh, PartitionSpec(DATA_AXIS, SPACE_AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())


def data_parallel_size(mesh: Mesh) -> int:
    """How many ways the batch axis is split."""
    return mesh.shape[DATA_AXIS]


def global_batch(local_batch: dict[str, np.ndarray], mesh: Mesh) -> dict[str, jax.Array]:
    """Host-local batch arrays -> global arrays sharded along the batch (and first spatial) axis.

    Each process passes the samples of its own devices' rows of the global batch, whole (the
    space axis keeps its devices on one process), and jax assembles the global array.
    """
    sharding = batch_sharding(mesh)
    return {k: jax.make_array_from_process_local_data(sharding, v) for k, v in local_batch.items()}
