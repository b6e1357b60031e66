"""What `jaxseg checkpoint-info` reports about a checkpoint."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import jax
import numpy as np

from jaxseg.core.state import parameter_count
from jaxseg.train.checkpoint import Checkpoints
from jaxseg.train.restore import restore


def params_digest(params: Any) -> str:
    """sha256 over the bytes of every parameter array, in tree order (equal digests: equal weights)."""
    digest = hashlib.sha256()
    for leaf in jax.tree.leaves(params):
        digest.update(np.ascontiguousarray(jax.device_get(leaf)).tobytes())
    return digest.hexdigest()


def _locate(path: Path) -> tuple[Path, int | str]:
    """(checkpoints folder, step or "latest") for a run folder, a checkpoints folder or a step folder."""
    if (path / "checkpoints").is_dir():
        return path / "checkpoints", "latest"
    if path.name.isdigit() and path.is_dir():
        return path.parent, int(path.name)
    if path.is_dir():
        return path, "latest"
    raise FileNotFoundError(f"{path}: not a run folder, a checkpoints folder or a checkpoint step folder")


def checkpoint_info(path: str | Path) -> dict[str, Any]:
    """Keys: `step`, `config_name`, `params` (count), `params_digest`, `metrics` (None without
    validation), `path` (the step folder)."""
    directory, which = _locate(Path(path))
    run = restore(directory, which)
    config, state, step = run.config, run.state, run.step
    checkpoints = Checkpoints(directory)
    metrics = checkpoints.metrics(step)
    checkpoints.close()
    return {
        "path": str(directory / str(step)),
        "step": step,
        "config_name": config.name,
        "params": parameter_count(state.params),
        "params_digest": params_digest(state.params),
        "metrics": metrics,
    }
