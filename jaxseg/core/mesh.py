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

from jaxseg.config.errors import ConfigError

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


def sample_sharding(mesh: Mesh) -> NamedSharding:
    """Batch axis split over "data", every other axis whole: inference batches (windows, slices)
    whose spatial sizes need not divide over the space axis."""
    return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def local_mesh() -> Mesh:
    """A data-axis mesh over this process's devices: inference that each process runs on its own cases."""
    return Mesh(np.asarray(jax.local_devices()).reshape(-1, 1), (DATA_AXIS, SPACE_AXIS))


def replicated_on(tree, mesh: Mesh):
    """A tree of arrays replicated on some mesh (each process holds whole copies), replicated on `mesh` instead."""
    if all(x.sharding.mesh == mesh for x in jax.tree.leaves(tree) if hasattr(x.sharding, "mesh")):
        return tree
    return jax.tree.map(lambda x: jax.device_put(x.addressable_data(0), replicated(mesh)), tree)


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())


def data_parallel_size(mesh: Mesh) -> int:
    """How many ways the batch axis is split."""
    return mesh.shape[DATA_AXIS]


def local_batch_size(config: ml_collections.ConfigDict, mesh: Mesh, sample_shape: tuple[int, ...] = ()) -> int:
    """This process's share of the global batch; ConfigError when the batch or sample does not split over the mesh."""
    batch, accum = config.data.batch_size, config.train.grad_accum_steps
    data, space = data_parallel_size(mesh), mesh.shape[SPACE_AXIS]
    if (batch // accum) % data:
        raise ConfigError(f"config key 'data.batch_size' = {batch} split into 'train.grad_accum_steps' = {accum} "
                          f"microbatches is not divisible by the {data} devices of the mesh's data axis")
    if sample_shape and sample_shape[0] % space:
        raise ConfigError(f"samples of shape {sample_shape} do not split into 'mesh.spatial' = {space} slabs "
                          "along their first axis")
    return batch // jax.process_count()


def global_batch(local_batch: dict[str, np.ndarray], mesh: Mesh) -> dict[str, jax.Array]:
    """Host-local batch arrays -> global arrays sharded along the batch (and first spatial) axis.

    Each process passes the samples of its own devices' rows of the global batch, whole (the
    space axis keeps its devices on one process), and jax assembles the global array.
    """
    sharding = batch_sharding(mesh)
    return {k: jax.make_array_from_process_local_data(sharding, v) for k, v in local_batch.items()}
