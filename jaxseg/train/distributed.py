"""Starting JAX's multi-controller runtime (jax.distributed) for multi-process training, and the
work its processes share: one prepares first, validation cases are split among them."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator

import jax
import numpy as np

log = logging.getLogger(__name__)


def initialize_distributed(coordinator: str | None = None, num_processes: int | None = None,
                           process_id: int | None = None, timeout_s: int = 300) -> bool:
    """Join a multi-process job; returns True when one was joined, False for a single process.

    Explicit arguments (all three) win; otherwise a SLURM job step with more than one task is
    detected from its environment (jax.distributed's own cluster detection). On CPU the
    collectives go over gloo. A coordinator that cannot be reached within `timeout_s` fails
    with a message naming it.
    """
    given = {"--coordinator": coordinator, "--num-processes": num_processes, "--process-id": process_id}
    if any(v is not None for v in given.values()):
        missing = [name for name, value in given.items() if value is None]
        if missing:
            raise ValueError(f"multi-process training needs {', '.join(given)}; missing {', '.join(missing)}")
        if not 0 <= process_id < num_processes:
            raise ValueError(f"--process-id {process_id} is not in [0, {num_processes})")
        kwargs = {"coordinator_address": coordinator, "num_processes": num_processes, "process_id": process_id}
    elif int(os.environ.get("SLURM_NTASKS", "1")) > 1:
        kwargs = {}
    else:
        return False
    if coordinator is not None and process_id != 0:
        _wait_for_coordinator(coordinator, timeout_s)
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    try:
        jax.distributed.initialize(initialization_timeout=timeout_s, **kwargs)
    except Exception as err:  # the runtime reports unreachable coordinators with several types
        where = coordinator or "the SLURM-derived coordinator"
        raise RuntimeError(f"could not join the multi-process job at {where} within {timeout_s} s: {err}") from None
    log.info("process %d of %d, %d local of %d devices", jax.process_index(), jax.process_count(),
             jax.local_device_count(), jax.device_count())
    return True


def _wait_for_coordinator(address: str, timeout_s: float) -> None:
    """Wait until process 0's coordinator accepts connections; RuntimeError naming it after `timeout_s`.

    JAX's runtime aborts the whole process when registration times out, with no message a user
    can act on, so reachability is checked first.
    """
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"--coordinator must be HOST:PORT, got '{address}'")
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with socket.create_connection((host, int(port)), timeout=2):
                return
        except OSError as err:
            if time.monotonic() >= deadline:
                raise RuntimeError(f"coordinator {address} not reachable within {timeout_s} s ({err}); "
                                   "is process 0 running and the port open?") from None
            time.sleep(0.5)


def barrier(name: str) -> None:
    """Wait until every process of a multi-process job reaches the barrier `name`; nothing for one process."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


@contextlib.contextmanager
def process_zero_first(name: str) -> Iterator[None]:
    """Process 0 runs the block first while the others wait; then the others run it.

    For work done once per run on shared files (generating a dataset, preparing its cache): process 0
    writes them, the others find them complete. The same on a filesystem shared by several hosts.
    """
    if jax.process_index() != 0:
        barrier(name)
    yield
    if jax.process_index() == 0:
        barrier(name)


def per_case_over_processes(count: int, score: Callable[[int], np.ndarray], width: int) -> np.ndarray:
    """Scores (count, width) float64 of items 0..count-1, each process scoring items p, p + P, ...
    (P processes) with score(i) -> (width,), gathered so that every process returns all rows in order."""
    processes, me = jax.process_count(), jax.process_index()
    rows = -(-count // processes)
    mine = np.zeros((rows, width), np.float64)
    for row, item in enumerate(range(me, count, processes)):
        mine[row] = score(item)
    if processes == 1:
        return mine[:count]
    from jax.experimental import multihost_utils

    # As uint32 pairs: JAX would round float64 to float32 (x64 off), and every process must agree exactly.
    bits = np.asarray(multihost_utils.process_allgather(mine.view(np.uint32)))  # (processes, rows, 2 * width)
    gathered = np.ascontiguousarray(bits).view(np.float64)
    return np.stack([gathered[i % processes, i // processes] for i in range(count)])
