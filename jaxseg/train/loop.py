"""`fit`: the training loop that `jaxseg train` and `jaxseg demo` run, the same for every task."""

from __future__ import annotations

import contextlib
import logging
import time
from functools import partial
from pathlib import Path

import jax
import ml_collections

from jaxseg.core.mesh import global_batch, mesh_from_config
from jaxseg.core.state import TrainState
from jaxseg.report import training_curves
from jaxseg.tasks import Training, get_task
from jaxseg.train.batch_norm_settling import unsettled_batch_norm
from jaxseg.train.checkpoint import Checkpoints, best_metric_key, with_metric_ema
from jaxseg.train.divergence import require_finite
from jaxseg.train.logging import MetricsLog, announce, progress_bar
from jaxseg.train.run_folder import check_config_unchanged, locked_workdir
from jaxseg.train.signals import TrainingInterrupted, stop_on_signals

log = logging.getLogger(__name__)


def fit(config: ml_collections.ConfigDict, workdir: str | Path, progress: bool = True,
        resume_with_changed_config: bool = False) -> TrainState:
    """Train per the config in `workdir`, resuming from its newest intact checkpoint if any.

    The task `config.task` names (`jaxseg.tasks`) reads the data and builds the state, the compiled
    step and the validation; `run_training` runs the steps. Writes WORKDIR/checkpoints/ (the latest
    `train.keep_checkpoints` and the best by the task's validation metric, optionally averaged),
    metrics.jsonl, tensorboard/ and, at the end, curves.png. On SIGTERM or SIGINT it saves a
    checkpoint and raises TrainingInterrupted. The workdir is locked for the whole run
    (WorkdirInUse), and a config that differs from the checkpoints' is refused before anything is
    written (`check_config_unchanged`). Returns the final train state.
    """
    workdir = Path(workdir)
    task = get_task(config.task)
    say = partial(announce, enabled=progress and jax.process_index() == 0)
    with locked_workdir(workdir):
        checkpoints = Checkpoints(workdir / "checkpoints", keep=config.train.keep_checkpoints,
                                  best_metric=best_metric_key(config))
        check_config_unchanged(checkpoints, config, resume_with_changed_config)
        training = task.training(config, workdir, mesh_from_config(config.mesh), say)
        try:
            return run_training(config, workdir, training, checkpoints, progress)
        finally:  # Also after an error: see `Checkpoints.close`.
            checkpoints.close()
            if hasattr(training.batches, "close"):
                training.batches.close()


def run_training(config: ml_collections.ConfigDict, workdir: Path, training: Training, checkpoints: Checkpoints,
                 progress: bool = True) -> TrainState:
    """The steps of a fit: resume from the newest intact of `checkpoints`, then training.step(state,
    global batch) -> (state, metrics with "loss") until `train.steps`; log every `train.log_every`
    steps, validate with training.validate(state) -> {metric: value} (None: no validation) every
    `train.val_every` steps (adding the running average of the best metric when configured),
    checkpoint every `train.checkpoint_every` steps and after each validation, and plot curves.png
    at the end.

    On SIGTERM/SIGINT the step in progress is finished, logged, validated when due, checkpointed,
    and TrainingInterrupted raised. A non-finite loss or parameter raises TrainingDiverged before
    anything non-finite is saved. A run already at `train.steps` says so and changes nothing.
    """
    state, batches, step_fn, val_fn = training.state, training.batches, training.step, training.validate
    mesh = training.mesh
    start = 0
    if (resumed := checkpoints.restore_first_intact(sorted(checkpoints.all_steps(), reverse=True),
                                                    lambda _: state)) is not None:
        start, state = resumed.step, resumed.state
        batches.set_state(resumed.data_state)
        log.info("resumed from step %d in %s", start, workdir / "checkpoints")

    lead = jax.process_index() == 0  # logs, plots and reports come from process 0 only
    if start >= config.train.steps:
        checkpoints.close()
        if lead:
            print(f"run already finished at step {start} ({workdir})")
        return state
    metrics_log = MetricsLog(workdir, resume_step=start) if lead else None
    say = partial(announce, enabled=progress and lead)
    if start == 0 and (warning := unsettled_batch_norm(config)):
        say(f"warning: {warning}")
    say(f"compiling the train step (batch {config.data.batch_size}), then training from step {start + 1}")
    bar = progress_bar(config.train.steps, start, enabled=progress and lead)
    tic, window_start = time.perf_counter(), start
    train = config.train
    with stop_on_signals() as stop_request, contextlib.closing(bar):
        for step in range(start + 1, train.steps + 1):
            state, metrics = step_fn(state, global_batch(next(batches), mesh))
            if step == start + 1:  # The first call traces and compiles the step, then dispatches it.
                say(f"train step compiled in {time.perf_counter() - tic:.1f} s")
            stopping, last = bool(stop_request), step == train.steps
            validate_now = val_fn is not None and (step % train.val_every == 0 or last)
            log_now = step % train.log_every == 0 or last or stopping  # val_every is a multiple of log_every
            save_now = step % train.checkpoint_every == 0 or last or stopping or validate_now
            if not (log_now or save_now):
                continue
            record = {k: float(v) for k, v in jax.device_get(metrics).items()}
            require_finite(step, record["loss"], state if save_now else None, checkpoints)
            scores = None
            if log_now:
                elapsed = time.perf_counter() - tic
                record["samples_per_s"] = (step - window_start) * config.data.batch_size / max(elapsed, 1e-9)
                tic, window_start = time.perf_counter(), step
                if validate_now:
                    state, scores = with_metric_ema(state, val_fn(state), config)
                    record.update(scores)
                if lead:
                    metrics_log.write(step, record)
                bar.set_postfix({k: f"{v:.4g}" for k, v in record.items()}, refresh=False)
                bar.update(step - bar.n)
            if save_now:
                checkpoints.save(step, state, batches.get_state(), config, scores)
            if stopping:
                checkpoints.close()
                if lead:
                    metrics_log.close()
                raise TrainingInterrupted(step, stop_request.signal, workdir)
    checkpoints.close()
    if lead:
        metrics_log.close()
        if metrics_log.path.stat().st_size:
            training_curves(metrics_log.path, workdir / "curves.png")
    return state
