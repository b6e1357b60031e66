"""`restore`: the one way a checkpoint comes back, for evaluate, predict, propagate and checkpoint-info.

Checkpoints are verified against their checksums (`Checkpoints.restore`); a damaged one is set
aside and the next is used. The state is restored onto a mesh like the one it was trained on
(all devices when fewer are here), shaped by the task of the config saved with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import jax
import ml_collections
from jax.sharding import Mesh

from jaxseg.config import ConfigError, apply_override, validate
from jaxseg.core.mesh import make_mesh, replicated
from jaxseg.core.state import TrainState
from jaxseg.tasks import Restored, get_task
from jaxseg.train.build import build_state
from jaxseg.train.checkpoint import Checkpoints, best_metric_key

# With `data`: the keys that describe another dataset's files (its preprocessing stays the run's).
DATASET_KEYS = ("data.source=", "layout.")


def checkpoint_location(run: str | Path) -> tuple[Path, str | int]:
    """(checkpoints folder, "best" or a step) for a run folder, a checkpoints folder or a step folder."""
    run = Path(run)
    if (run / "checkpoints").is_dir():
        return run / "checkpoints", "best"
    if run.name.isdigit():
        return run.parent, int(run.name)
    return run, "best"


def restore(run: str | Path, which: str | int | None = None, overrides: Sequence[str] = (),
            data: str | Path | None = None) -> Restored:
    """The config, state, step, mesh and folder of a checkpoint: the best of a run folder or a checkpoints folder
    (by the run's best metric; the latest when none was validated), or a step folder; `which`
    ("best", "latest" or a step) picks another of the folder.

    overrides: KEY=VALUE changes of the config saved with it, only of keys the task allows after
    training (`Task.inference_keys`: inference, thresholds, post-processing). data: another
    dataset folder to read (data.root); `data.source` and `layout.*` may then be overridden too,
    and a phantom run reads it as the Decathlon layout its phantoms were written in.
    """
    directory, default = checkpoint_location(run)
    config, state, step = _restore_verified(directory, default if which is None else which)
    task_keys = get_task(config.task).inference_keys
    allowed = task_keys + (DATASET_KEYS if data is not None else ())
    if data is not None:
        config.data.root = str(data)
        config.data.source = "msd" if config.data.source == "phantom" else config.data.source
    for override in overrides:
        if not override.startswith(allowed):
            keys = ", ".join(k + "*" if k.endswith(".") else k for k in task_keys)
            raise ConfigError(f"override '{override}': only {keys} keys can change after training a {config.task} "
                              "model (and data.source and layout.* with --data)")
        apply_override(config, override)
    validate(config)
    return Restored(config, state, step, _mesh_for(config), directory / str(step))


def _restore_verified(directory: Path, which: str | int) -> tuple[ml_collections.ConfigDict, TrainState, int]:
    """Config, state and step of checkpoint `which` in `directory`, verified; a damaged checkpoint
    is set aside and the next is used: for "best" the next best, then the newest; for "latest" or a
    step the one before."""
    checkpoints = Checkpoints(directory)
    steps = sorted(checkpoints.all_steps(), reverse=True)
    if isinstance(which, int):
        if which not in steps:
            checkpoints.close()
            aside = [n for n in checkpoints.damaged() if n.split(".")[0] == str(which)]
            raise FileNotFoundError(f"{directory} holds no checkpoint {which}"
                                    + (f" (set aside as damaged: {', '.join(aside)})" if aside else ""))
        steps = [which]
    elif steps and which == "best":
        newest = checkpoints.newest_config()
        metric = best_metric_key(newest[1]) if newest else checkpoints.best_metric
        scores = {s: m[metric] for s in steps if (m := checkpoints.metrics(s)) and metric in m}
        steps = sorted(scores, key=scores.get, reverse=True) + [s for s in steps if s not in scores]

    def like_for(config: ml_collections.ConfigDict) -> TrainState:
        mesh = _mesh_for(config)
        like = jax.eval_shape(lambda: build_state(config, mesh))
        return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=replicated(mesh)), like)

    try:
        restored = checkpoints.restore_first_intact(steps, like_for, data_iterator=False)
    finally:  # Also after an error: see `Checkpoints.close`.
        checkpoints.close()
    if restored is None:
        raise FileNotFoundError(f"{directory} holds no checkpoint")
    return restored.config, restored.state, restored.step


def _mesh_for(config: ml_collections.ConfigDict) -> Mesh:
    return make_mesh(config.mesh.data if config.mesh.data <= jax.device_count() else -1)
