"""Shared fixtures: small phantom datasets and tiny configs that train in seconds on a CPU.

The session shares one XLA compilation cache (a fresh folder, removed at the end), in this process
and in the jaxseg processes tests start: many tests compile the same tiny networks and steps, and
a compiled program found in the cache is not compiled again. Values do not change: the cache holds
the very executables XLA would build.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import jax
import pytest

from jaxseg.config import load_config
from jaxseg.data.synthetic import write_phantom_dataset

_CACHE_SETTINGS = {"JAX_COMPILATION_CACHE_DIR": None, "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0.2",
                   "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0"}


def pytest_configure(config):
    if "JAX_COMPILATION_CACHE_DIR" in os.environ:  # the caller chose a cache: keep it
        return
    folder = tempfile.mkdtemp(prefix="jaxseg-tests-xla-cache-")
    config._jaxseg_xla_cache = folder
    for name, value in {**_CACHE_SETTINGS, "JAX_COMPILATION_CACHE_DIR": folder}.items():
        os.environ[name] = value  # inherited by the subprocesses tests start
        jax.config.update(name.lower(), float(value) if name.endswith("SECS") else
                          int(value) if name.endswith("BYTES") else value)


def pytest_unconfigure(config):
    if folder := getattr(config, "_jaxseg_xla_cache", None):
        shutil.rmtree(folder, ignore_errors=True)


TINY_PHANTOM = {"num_cases": 5, "shape": (32, 32, 16), "spacing_mm": (12.0, 12.0, 16.0), "seed": 0}


def tiny_overrides(phantom_root: Path, **extra) -> list[str]:
    """Overrides turning configs/demo.py into a seconds-long run on the tiny phantom set."""
    values = {
        "data.root": str(phantom_root),
        "data.num_val": 1,
        "data.num_test": 1,
        "data.batch_size": 4,
        "phantom.num_cases": TINY_PHANTOM["num_cases"],
        "phantom.shape": TINY_PHANTOM["shape"],
        "phantom.spacing_mm": TINY_PHANTOM["spacing_mm"],
        "model.features": (4, 8),
        "optimizer.warmup_steps": 0,
        "train.steps": 6,
        "train.log_every": 2,
        "train.val_every": 4,
        "train.checkpoint_every": 2,
        "inference.batch_size": 8,
        **extra,
    }
    return [f"{k}={v}".replace(" ", "") if isinstance(v, tuple) else f"{k}={v}" for k, v in values.items()]


@pytest.fixture(scope="session")
def phantom_root(tmp_path_factory) -> Path:
    """A 5-case tiny phantom dataset in the Decathlon layout, generated once per session."""
    return write_phantom_dataset(tmp_path_factory.mktemp("data") / "phantom", **TINY_PHANTOM)


@pytest.fixture
def tiny_config(phantom_root):
    return load_config("demo", tiny_overrides(phantom_root))


def wait_for(path: Path, process: subprocess.Popen, timeout: float = 300) -> None:
    """Wait until `path` exists while `process` runs; fail with its stderr if it exits first."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, process.stderr.read().decode()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


@pytest.fixture(scope="session")
def tiny_run(phantom_root, tmp_path_factory) -> Path:
    """A run folder of configs/demo.py trained for 2 steps on the tiny phantoms (shared by the
    prediction-output and export tests, which need a checkpoint, not a good one)."""
    from jaxseg.train.loop import fit

    run = tmp_path_factory.mktemp("tiny_run") / "run"
    fit(load_config("demo", tiny_overrides(phantom_root, **{"train.steps": 2, "train.val_every": 2})), run,
        progress=False)
    return run
