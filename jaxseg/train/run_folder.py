"""A run folder belongs to one run: an exclusive lock for the whole `jaxseg train`, and a rerun
that must bring the config its checkpoints were trained with."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jax
import ml_collections

from jaxseg.config import ConfigError
from jaxseg.train.checkpoint import Checkpoints

log = logging.getLogger(__name__)

LOCK_FILE = "train.lock"

# Keys a run can be continued with changed (--resume-with-changed-config): they change neither the
# parameters' shapes nor the data, only when the run stops, logs, validates and checkpoints, the
# learning rate and the number of input workers.
SAFE_ON_RESUME = (
    "train.steps", "train.log_every", "train.val_every", "train.checkpoint_every", "train.keep_checkpoints",
    "optimizer.learning_rate", "optimizer.schedule", "optimizer.warmup_steps", "optimizer.boundaries",
    "optimizer.decay_factor", "data.workers",
)
# Raising train.steps continues a finished run, lowering it stops one early: no flag needed.
FREE_ON_RESUME = ("train.steps",)


class WorkdirInUse(RuntimeError):
    """Another `jaxseg train` holds the workdir."""


@contextlib.contextmanager
def locked_workdir(workdir: Path) -> Iterator[None]:
    """Hold an exclusive lock on WORKDIR/train.lock while the block runs; WorkdirInUse at once when
    another process holds it.

    POSIX record locks (lockf) also work on NFS and Lustre, and die with their process: the lock of
    a killed run never blocks. On a multi-process job process 0 holds it for all.
    """
    if jax.process_index() != 0:
        yield
        return
    workdir.mkdir(parents=True, exist_ok=True)
    fd = os.open(workdir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            if err.errno not in (errno.EACCES, errno.EAGAIN):
                raise
            raise WorkdirInUse(f"{workdir} is in use by {_holder(fd)}; wait for that run to end, or give this one "
                               "another --workdir") from None
        holder = {"pid": os.getpid(), "host": socket.gethostname(),
                  "since": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime())}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def _holder(fd: int) -> str:
    """'PID on HOST since TIME' as the lock's holder wrote it."""
    try:
        holder = json.loads(os.pread(fd, 4096, 0))
        return f"{holder['pid']} on {holder['host']} since {holder['since']}"
    except (ValueError, KeyError, TypeError):  # the holder has not written it yet
        return "another jaxseg train"


def check_config_unchanged(checkpoints: Checkpoints, config: ml_collections.ConfigDict,
                           resume_with_changed_config: bool = False) -> None:
    """ConfigError, before anything is touched, when `config` differs from the one stored with the
    newest checkpoint in keys other than train.steps, unless all of them are safe on resume and
    `resume_with_changed_config` is set (then they are logged and the run continues)."""
    newest = checkpoints.newest_config()
    if newest is None:
        return
    step, stored = newest
    changed = {k: (old, new) for k, (old, new) in config_differences(stored, config).items() if k not in FREE_ON_RESUME}
    if not changed:
        return
    where = checkpoints.directory / str(step)
    listing = "\n".join(f"  {key}: {old!r} -> {new!r}" for key, (old, new) in changed.items())
    unsafe = [key for key in changed if key not in SAFE_ON_RESUME]
    if resume_with_changed_config and not unsafe:
        log.warning("continuing the run in %s with a changed config:\n%s", where.parent.parent, listing)
        return
    if resume_with_changed_config:
        raise ConfigError(f"the config differs from the one stored in {where} in keys that cannot change on resume "
                          f"(they change the parameters' shapes, the training or the data): {', '.join(unsafe)}\n"
                          f"{listing}\nnothing was changed; train this config with a new --workdir")
    raise ConfigError(f"the config differs from the one stored in {where}:\n{listing}\nnothing was changed; train this "
                      "config with a new --workdir, or continue this run with --resume-with-changed-config (only for "
                      f"{', '.join(SAFE_ON_RESUME)})")


def config_differences(old: ml_collections.ConfigDict, new: ml_collections.ConfigDict) -> dict[str, tuple[Any, Any]]:
    """{dotted key: (old value, new value)} for every key whose values differ, compared as JSON."""
    before, after = _flat(json.loads(old.to_json())), _flat(json.loads(new.to_json()))
    return {k: (before.get(k), after.get(k)) for k in sorted(before.keys() | after.keys())
            if before.get(k) != after.get(k)}


def _flat(tree: dict, prefix: str = "") -> dict[str, Any]:
    flat = {}
    for key, value in tree.items():
        flat.update(_flat(value, f"{prefix}{key}.") if isinstance(value, dict) else {f"{prefix}{key}": value})
    return flat
