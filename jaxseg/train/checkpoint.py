"""Checkpoints with orbax: the train state, the data iterator's position and the config, per step.

Layout: WORKDIR/checkpoints/<step>/{state, data_iterator, config, checksums, metrics}. The latest
`keep` steps and the single best step by a validation metric (higher is better) are kept. Orbax
writes each step to a temporary folder and renames it when complete, so an interrupted save never
damages an earlier checkpoint; the checksums (one per state array) catch damage done to a step
after it was written, and every restore (training, evaluate, predict, checkpoint-info) verifies them.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import ml_collections
import numpy as np
import orbax.checkpoint as ocp
from etils import epath
from orbax.checkpoint import checkpoint_managers

from jaxseg.config import ConfigError, config_from_json
from jaxseg.core.state import TrainState
from jaxseg.tasks import get_task
from jaxseg.train.checksums import checksum_mismatch, shape_records, state_checksums, structure_mismatch
from jaxseg.train.distributed import barrier

ITEMS = ("state", "data_iterator", "config", "checksums")
JSON_FILES = ("_CHECKPOINT_METADATA", "metrics/metrics")  # read by orbax when it opens the folder

log = logging.getLogger(__name__)


class _NoMissingMetricsWarning(logging.Filter):
    """Steps saved between validations carry no metrics by design; orbax warns about each one."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "did not provide metrics" not in record.getMessage()


logging.getLogger("absl").addFilter(_NoMissingMetricsWarning())


class DamagedCheckpoint(RuntimeError):
    """A checkpoint whose own files fail to read or to verify."""

    def __init__(self, step: int, reason: str):
        self.step, self.reason = step, reason
        super().__init__(reason)


class CheckpointsDamaged(RuntimeError):
    """Every checkpoint of a folder is damaged; nothing is restored, nothing restarts from step 0."""


class IncompatibleCheckpoint(ConfigError):
    """An intact checkpoint whose state does not fit the config it is restored for."""


@dataclasses.dataclass(frozen=True)
class Restored:
    step: int
    config: ml_collections.ConfigDict
    state: TrainState
    data_state: dict[str, Any] | None


class Checkpoints:
    """A folder of checkpoints for one run."""

    def __init__(self, directory: str | Path, keep: int = 1, best_metric: str = "val_dice"):
        self.best_metric = best_metric
        self.directory = Path(directory).absolute()
        # orbax reads every step's metrics when it opens the folder and fails on an unreadable one.
        if jax.process_index() == 0 and self.directory.is_dir():
            for step_dir in self.directory.iterdir():
                if step_dir.name.isdigit() and (reason := _unreadable_json(step_dir)):
                    self._set_aside(int(step_dir.name), reason)
        barrier("jaxseg-checkpoints-opened")
        policy = checkpoint_managers.AnyPreservationPolicy([
            checkpoint_managers.LatestN(n=keep),
            checkpoint_managers.BestN(get_metric_fn=lambda m: m[best_metric], n=1,
                                      keep_checkpoints_without_metrics=False),
        ])
        # best_fn makes orbax store each step's metrics; which steps survive is the policy's call.
        options = ocp.CheckpointManagerOptions(best_fn=lambda m: m[best_metric], best_mode="max",
                                               preservation_policy=policy, enable_async_checkpointing=True)
        self.manager = ocp.CheckpointManager(self.directory, options=options, item_names=ITEMS)
        self._closed = False

    def save(self, step: int, state: TrainState, data_state: dict, config: ml_collections.ConfigDict,
             metrics: dict[str, float] | None = None) -> None:
        """Start an asynchronous save (with the checksum of every state array); `wait()` or the next save
        waits for it."""
        self.manager.save(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardSave(state),
                data_iterator=ocp.args.JsonSave(data_state),
                config=ocp.args.JsonSave(json.loads(config.to_json())),
                checksums=ocp.args.JsonSave(state_checksums(state)),
            ),
            metrics=metrics,
            force=True,
        )

    def wait(self) -> None:
        self.manager.wait_until_finished()

    def all_steps(self) -> list[int]:
        return list(self.manager.all_steps())

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def best_step(self, metric: str | None = None) -> int | None:
        """The step with the highest `metric` (default: this run's best metric), or None when no
        checkpoint has it."""
        metric = metric or self.best_metric
        scored = [(m[metric], s) for s in self.manager.all_steps() if (m := self.manager.metrics(s)) and metric in m]
        return max(scored)[1] if scored else None

    def metrics(self, step: int) -> dict[str, float] | None:
        return self.manager.metrics(step)

    def damaged(self) -> list[str]:
        """Names of the step folders set aside as damaged, newest first."""
        return sorted((p.name for p in self.directory.glob("*.damaged*")), key=lambda n: int(n.split(".")[0]),
                      reverse=True)

    def restore_config(self, step: int) -> ml_collections.ConfigDict:
        """The config saved with `step`; DamagedCheckpoint when its file does not read."""
        return config_from_json(json.dumps(self._json_items(step, "config")["config"]))

    def newest_config(self) -> tuple[int, ml_collections.ConfigDict] | None:
        """(step, config) of the newest step whose config file reads; None when none does."""
        for step in sorted(self.manager.all_steps(), reverse=True):
            try:
                return step, self.restore_config(step)
            except DamagedCheckpoint:  # set aside when the step itself is restored
                continue
        return None

    def restore(self, step: int, like_for: Callable[[ml_collections.ConfigDict], TrainState],
                data_iterator: bool = True) -> Restored:
        """Step `step`, verified: every file it needs reads, and every state array matches its checksum.

        like_for(stored config) -> the state (or abstract state) to restore into, whose shardings
        the restored arrays take. data_iterator: also restore the data iterator's position (training
        needs it; prediction does not). DamagedCheckpoint when the step's own files fail;
        IncompatibleCheckpoint when they are intact but do not fit `like_for`'s state.
        """
        # A step without a checksums folder was written before jaxseg stored checksums: not damaged,
        # but its arrays cannot be verified. (An empty or cut checksums file is damage.)
        verified = (self.directory / str(step) / "checksums").exists()
        names = ("config", "checksums", "data_iterator") if verified else ("config", "data_iterator")
        items = self._json_items(step, *(names if data_iterator else names[:-1]))
        config = config_from_json(json.dumps(items["config"]))
        like = like_for(config)
        records = items["checksums"] if verified else shape_records(self._stored_arrays(step), like)
        if problem := structure_mismatch(records, like):
            raise IncompatibleCheckpoint(f"checkpoint {self.directory / str(step)} does not fit this config: {problem}")
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
        try:
            state = self.manager.restore(
                step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract)))["state"]
        except Exception as err:  # orbax/tensorstore raise many types for damaged files
            raise DamagedCheckpoint(step, f"{type(err).__name__}: {_first_line(err)}") from None
        if not verified:
            log.warning("checkpoint %s/%d has no checksums (written before jaxseg stored them): restored "
                        "unverified, damage to its arrays cannot be detected", self.directory, step)
        elif problem := checksum_mismatch(records, state):
            raise DamagedCheckpoint(step, problem)
        return Restored(step, config, state, items.get("data_iterator"))

    def _stored_arrays(self, step: int) -> Any:
        """The saved state's array metadata (shapes, dtypes) as a nested dict; DamagedCheckpoint when it
        does not read."""
        try:
            return ocp.StandardCheckpointHandler().metadata(epath.Path(self.directory / str(step) / "state")).tree
        except Exception as err:  # a missing or damaged metadata file
            raise DamagedCheckpoint(step, f"its state metadata does not read ({type(err).__name__}: "
                                          f"{_first_line(err)})") from None

    def restore_first_intact(self, steps: Sequence[int], like_for: Callable[[ml_collections.ConfigDict], TrainState],
                             data_iterator: bool = True) -> Restored | None:
        """The first of `steps` that restores intact (see `restore`), or None when there are no checkpoints.

        A damaged step is renamed STEP.damaged (kept for inspection, out of the way of the step's
        next save) with a warning, and the next is tried. CheckpointsDamaged, naming them, when
        none is left but damaged ones exist.
        """
        restored, damaged = None, False
        for step in steps:
            try:
                restored = self.restore(step, like_for, data_iterator)
                break
            except DamagedCheckpoint as err:
                self._set_aside(step, err.reason)
                damaged = True
        if damaged:  # every process found the same damage; process 0 renamed it
            barrier("jaxseg-checkpoints-set-aside")
            self.manager.reload()
        if restored is None and (names := self.damaged()):
            raise CheckpointsDamaged(f"every checkpoint in {self.directory} is damaged ({', '.join(names)}); nothing "
                                     "was restored or changed: put back a copy of the run, or start afresh with a new "
                                     "--workdir")
        return restored

    def _json_items(self, step: int, *names: str) -> dict[str, Any]:
        try:
            return self.manager.restore(step, args=ocp.args.Composite(**{n: ocp.args.JsonRestore() for n in names}))
        except Exception as err:  # a missing, empty or truncated JSON file
            raise DamagedCheckpoint(step, f"its {'/'.join(names)} files do not read ({type(err).__name__}: "
                                          f"{_first_line(err)})") from None

    def _set_aside(self, step: int, reason: str) -> Path:
        """Rename the step's folder to STEP.damaged (STEP.damaged.N when taken), with a warning; process 0
        only renames."""
        target = self.directory / f"{step}.damaged"
        for n in itertools.count(1):
            if not target.exists():
                break
            target = self.directory / f"{step}.damaged.{n}"
        log.warning("checkpoint %s/%d cannot be restored (%s); moved to %s, trying the one before",
                    self.directory, step, reason, target.name)
        if jax.process_index() == 0:
            (self.directory / str(step)).rename(target)
            (target / "DAMAGED.txt").write_text(reason + "\n")
        return target

    def close(self) -> None:
        """Wait for an asynchronous save and release orbax's threads; idempotent. Runs must call it on
        every exit, errors included: a save still running at interpreter shutdown fails ("cannot
        schedule new futures after interpreter shutdown") and prints a page of "Event loop is closed"."""
        if not self._closed:
            self._closed = True
            self.manager.close()  # Waits for outstanding saves first.


def _unreadable_json(step_dir: Path) -> str | None:
    """Why one of the JSON files orbax reads on opening `step_dir` does not parse; None when all do."""
    for name in JSON_FILES:
        path = step_dir / name
        if path.exists():
            try:
                json.loads(path.read_text())
            except (ValueError, OSError) as err:
                return f"{name} does not read ({type(err).__name__}: {err})"
    return None


def _first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0][:300] if str(err).strip() else repr(err)


def best_metric_key(config: ml_collections.ConfigDict) -> str:
    """The name, among a run's validation scores, of the one that picks its best checkpoint: the
    task's (`Task.best_metric`), or its running average with `train.best_metric_ema`."""
    return get_task(config.task).best_metric(config) + ("_ema" if config.train.best_metric_ema else "")


def with_metric_ema(state: TrainState, scores: dict[str, float],
                    config: ml_collections.ConfigDict) -> tuple[TrainState, dict[str, float]]:
    """Add the running average of the best metric to `scores` (and to the state) when one is configured.

    nnU-Net chooses its best checkpoint by such an average: one validation is a noisy estimate.
    """
    decay = config.train.best_metric_ema
    if not decay:
        return state, scores
    key = best_metric_key(config)
    value = scores[key.removesuffix("_ema")]
    previous = float(state.metric_ema)
    ema = value if np.isinf(previous) else decay * previous + (1 - decay) * value
    metric_ema = jax.device_put(np.float32(ema), state.metric_ema.sharding)
    return state.replace(metric_ema=metric_ema), {**scores, key: float(np.float32(ema))}
