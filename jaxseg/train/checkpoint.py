"""Checkpoints with orbax: the train state, the data iterator's position and the config, per step.

Layout: WORKDIR/checkpoints/<step>/{state, data_iterator, config}. The latest `keep` steps and
the single best step by a validation metric (higher is better) are kept. Orbax writes each step
to a temporary folder and renames it when complete, so an interrupted save never damages an
earlier checkpoint.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import jax
import ml_collections
import numpy as np
import orbax.checkpoint as ocp
from orbax.checkpoint import checkpoint_managers

from jaxseg.config import config_from_json
from jaxseg.train.state import TrainState

ITEMS = ("state", "data_iterator", "config")

log = logging.getLogger(__name__)


class _NoMissingMetricsWarning(logging.Filter):
    """Steps saved between validations carry no metrics by design; orbax warns about each one."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "did not provide metrics" not in record.getMessage()


logging.getLogger("absl").addFilter(_NoMissingMetricsWarning())


class Checkpoints:
    """A folder of checkpoints for one run."""

    def __init__(self, directory: str | Path, keep: int = 1, best_metric: str = "val_dice"):
        self.best_metric = best_metric
        policy = checkpoint_managers.AnyPreservationPolicy([
            checkpoint_managers.LatestN(n=keep),
            checkpoint_managers.BestN(get_metric_fn=lambda m: m[best_metric], n=1,
                                      keep_checkpoints_without_metrics=False),
        ])
        # best_fn makes orbax store each step's metrics; which steps survive is the policy's call.
        options = ocp.CheckpointManagerOptions(best_fn=lambda m: m[best_metric], best_mode="max",
                                               preservation_policy=policy, enable_async_checkpointing=True)
        self.manager = ocp.CheckpointManager(Path(directory).absolute(), options=options, item_names=ITEMS)
        self._closed = False

    def save(self, step: int, state: TrainState, data_state: dict, config: ml_collections.ConfigDict,
             metrics: dict[str, float] | None = None) -> None:
        """Start an asynchronous save; `wait()` or the next save waits for it."""
        self.manager.save(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardSave(state),
                data_iterator=ocp.args.JsonSave(data_state),
                config=ocp.args.JsonSave(json.loads(config.to_json())),
            ),
            metrics=metrics,
            force=True,
        )

    def wait(self) -> None:
        self.manager.wait_until_finished()

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

    def restore_config(self, step: int) -> ml_collections.ConfigDict:
        restored = self.manager.restore(step, args=ocp.args.Composite(config=ocp.args.JsonRestore()))
        return config_from_json(json.dumps(restored["config"]))

    def restore(self, step: int, like: TrainState) -> tuple[TrainState, dict[str, Any]]:
        """The state and data iterator state of `step`, placed with the shardings of `like`."""
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
        restored = self.manager.restore(
            step,
            args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract), data_iterator=ocp.args.JsonRestore()),
        )
        return restored["state"], restored["data_iterator"]

    def restore_newest_readable(self, like: TrainState) -> tuple[int, TrainState, dict[str, Any]] | None:
        """(step, state, data iterator state) of the newest checkpoint that restores, or None.

        A checkpoint that fails to restore (damaged on disk after it was committed) is renamed to
        STEP.damaged, kept for inspection and out of the way of the step's next save, with a
        warning; the one before it is tried.
        """
        for step in sorted(self.manager.all_steps(), reverse=True):
            try:
                state, data_state = self.restore(step, like)
            except Exception as err:  # orbax/tensorstore raise many types for damaged files
                directory = Path(self.manager.directory)
                log.warning("checkpoint %s/%d cannot be restored (%s: %s); moved to %d.damaged, trying the one before",
                            directory, step, type(err).__name__, err, step)
                (directory / str(step)).rename(directory / f"{step}.damaged")
                self.manager.reload()
                continue
            return step, state, data_state
        return None

    def close(self) -> None:
        """Wait for an asynchronous save and release orbax's threads; idempotent. Runs must call it on
        every exit, errors included: a save still running at interpreter shutdown fails ("cannot
        schedule new futures after interpreter shutdown") and prints a page of "Event loop is closed"."""
        if not self._closed:
            self._closed = True
            self.manager.close()  # Waits for outstanding saves first.


DETECTION_METRIC = "val_ap50"  # Faster R-CNN runs: mean AP@0.5 over classes on the validation images.


def best_metric_key(config: ml_collections.ConfigDict) -> str:
    """The name, among a run's validation scores, of the one that picks its best checkpoint."""
    metric = DETECTION_METRIC if config.task == "detection" else f"val_{config.train.best_metric}"
    return metric + ("_ema" if config.train.best_metric_ema else "")


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
