"""Per-array checksums of a train state, written with each checkpoint and verified on restore.

Storage can flip bits in a way the compressed array files still decode; a CRC-32 over each array's
bytes (zlib's, a few GB/s) tells such a checkpoint from an intact one. Not a defence against
tampering, only against damage.
"""

from __future__ import annotations

import zlib
from typing import Any

import jax
import numpy as np


def host_array(leaf: Any) -> np.ndarray:
    """The whole value of a state leaf on this host.

    Train states are replicated over the mesh, so on a multi-process job the first local shard
    already holds the whole array; anything else is gathered from every process (all call this).
    """
    if isinstance(leaf, jax.Array):
        if leaf.is_fully_replicated:
            return np.asarray(leaf.addressable_data(0))
        if not leaf.is_fully_addressable:
            from jax.experimental import multihost_utils

            return np.asarray(multihost_utils.process_allgather(leaf, tiled=True))
    return np.asarray(jax.device_get(leaf))


def state_checksums(state: Any) -> dict[str, dict[str, Any]]:
    """{leaf path: {"shape": [...], "dtype": name, "crc32": int}} for every array of `state`."""
    records = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(state)[0]:
        value = host_array(leaf)
        records[jax.tree_util.keystr(path)] = {"shape": list(value.shape), "dtype": str(value.dtype),
                                               "crc32": zlib.crc32(np.ascontiguousarray(value).data)}
    return records


def structure_mismatch(records: dict[str, dict[str, Any]], like: Any) -> str | None:
    """How the arrays of `like` (arrays or ShapeDtypeStructs) differ from those `records` describe; None if they fit."""
    leaves = {jax.tree_util.keystr(p): leaf for p, leaf in jax.tree_util.tree_flatten_with_path(like)[0]}
    if missing := sorted(set(records) - set(leaves)):
        return f"it holds {missing[0]}, which this config's state lacks"
    if extra := sorted(set(leaves) - set(records)):
        return f"this config's state has {extra[0]}, which the checkpoint lacks"
    for key, leaf in leaves.items():
        shape, dtype = list(leaf.shape), str(np.dtype(leaf.dtype))
        if (shape, dtype) != (records[key]["shape"], records[key]["dtype"]):
            return f"{key} is {records[key]['dtype']}{records[key]['shape']} there but {dtype}{shape} here"
    return None


def shape_records(stored: Any, like: Any) -> dict[str, dict[str, Any]]:
    """{leaf path: {"shape", "dtype"}} of a saved state's array metadata, keyed as `like`'s leaves are.

    For checkpoints written before checksums were: their structure is checked against `like` from
    orbax's metadata (a nested dict) instead; leaves are matched by their key names.
    """
    paths = {_names(p): jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(like)[0]}
    records = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(stored)[0]:
        records[paths.get(_names(path), jax.tree_util.keystr(path))] = {"shape": list(leaf.shape),
                                                                          "dtype": str(np.dtype(leaf.dtype))}
    return records


def _names(path: tuple) -> tuple[str, ...]:
    """A key path as plain names: a dict's ['mu'], an attribute's .mu and an index are alike."""
    return tuple(str(getattr(k, "key", getattr(k, "name", getattr(k, "idx", k)))) for k in path)


def checksum_mismatch(records: dict[str, dict[str, Any]], state: Any) -> str | None:
    """The first array of `state` whose bytes do not match its recorded checksum; None when all match."""
    for key, record in state_checksums(state).items():
        if record["crc32"] != records[key]["crc32"]:
            return f"the bytes of {key} do not match their checksum"
    return None
