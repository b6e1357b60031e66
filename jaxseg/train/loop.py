"""`fit`: the training loop that `jaxseg train` and `jaxseg demo` run."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import jax
import ml_collections
import numpy as np
from jax.sharding import Mesh

from jaxseg.data.datasets import load_cases, open_dataset
from jaxseg.data.pipeline import training_data
from jaxseg.models import downsampling_factor
from jaxseg.report import training_curves
from jaxseg.train.augment import compile_augmentation, with_augmentation
from jaxseg.train.build import build_state
from jaxseg.train.checkpoint import Checkpoints
from jaxseg.train.logging import MetricsLog, progress_bar
from jaxseg.config import ConfigError
from jaxseg.train.mesh import SPACE_AXIS, data_parallel_size, global_batch, mesh_from_config
from jaxseg.train.objective import make_objective
from jaxseg.train.signals import TrainingInterrupted, stop_on_signals
from jaxseg.train.state import TrainState
from jaxseg.train.step import compile_train_step
from jaxseg.train.checkpoint import best_metric_key, with_metric_ema
from jaxseg.train.validation import validate

log = logging.getLogger(__name__)


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


def fit(config: ml_collections.ConfigDict, workdir: str | Path, progress: bool = True) -> TrainState:
    """Train per the config in `workdir`, resuming from its newest readable checkpoint if any.

    Writes WORKDIR/checkpoints/ (the latest `train.keep_checkpoints` and the best by the validation
    metric `train.best_metric`, optionally averaged), metrics.jsonl, tensorboard/ and, at the end, curves.png. On SIGTERM or SIGINT it saves
    a checkpoint and raises TrainingInterrupted. Returns the final train state.
    """
    workdir = Path(workdir)
    index, splits = open_dataset(config, workdir)
    pad_multiple = downsampling_factor(config.model)
    train_data = training_data(config, workdir, index, splits["train"], pad_multiple)
    val_cases = load_cases(splits["val"], config, index)
    log.info("%s; %d validation cases", train_data.description, len(val_cases))

    mesh = mesh_from_config(config.mesh)
    local_batch = local_batch_size(config, mesh, train_data.sample_shape)
    state = build_state(config, mesh, train_data.sample_shape)
    batches = train_data.batches(local_batch, seed=config.seed, workers=config.data.workers,
                                 shard_index=jax.process_index(), shard_count=jax.process_count())

    checkpoints = Checkpoints(workdir / "checkpoints", keep=config.train.keep_checkpoints,
                              best_metric=best_metric_key(config))
    loss_fn, forward_with_labels = make_objective(config)
    step_fn = compile_train_step(loss_fn, mesh, config.train.grad_accum_steps, forward_with_labels)
    if train_data.device_augmentation is not None:
        step_fn = with_augmentation(step_fn, compile_augmentation(train_data.device_augmentation, mesh))
    val_fn = (lambda state: validate(state, val_cases, config, mesh)) if val_cases else None
    return run_training(config, workdir, state, batches, step_fn, mesh, val_fn, checkpoints, progress)


def run_training(config: ml_collections.ConfigDict, workdir: Path, state: TrainState, batches, step_fn, mesh,
                 val_fn, checkpoints: Checkpoints, progress: bool = True) -> TrainState:
    """The steps of a fit: resume from `checkpoints`, then step_fn(state, global batch) ->
    (state, metrics with "loss") until `train.steps`; log every `train.log_every` steps, validate
    with val_fn(state) -> {metric: value} (None: no validation) every `train.val_every` steps (adding
    the running average of the best metric when configured), checkpoint (with the validation
    metrics), checkpoint and raise TrainingInterrupted on SIGTERM/SIGINT, and plot curves.png at
    the end. Shared by the segmentation and detection fits.
    """
    start = 0
    if (resumed := checkpoints.restore_newest_readable(state)) is not None:
        start, state, data_state = resumed
        batches.set_state(data_state)
        log.info("resumed from step %d in %s", start, workdir / "checkpoints")

    lead = jax.process_index() == 0  # logs, plots and reports come from process 0 only
    metrics_log = MetricsLog(workdir, resume_step=start) if lead else None
    bar = progress_bar(config.train.steps, start, enabled=progress and lead)
    tic, window_start = time.perf_counter(), start
    with stop_on_signals() as stop_request:
        for step in range(start + 1, config.train.steps + 1):
            state, metrics = step_fn(state, global_batch(next(batches), mesh))
            last = step == config.train.steps
            if stop_request:
                checkpoints.save(step, state, batches.get_state(), config)
                checkpoints.close()
                if lead:
                    metrics_log.close()
                bar.close()
                raise TrainingInterrupted(step, stop_request.signal, workdir)
            if step % config.train.log_every and not last:
                continue
            record = {k: float(v) for k, v in jax.device_get(metrics).items()}
            if not np.isfinite(record["loss"]):
                raise FloatingPointError(f"training diverged: loss {record['loss']} at step {step}; "
                                         f"the last checkpoint in {workdir / 'checkpoints'} is intact")
            elapsed = time.perf_counter() - tic
            record["samples_per_s"] = (step - window_start) * config.data.batch_size / max(elapsed, 1e-9)
            tic, window_start = time.perf_counter(), step
            scores = None
            if val_fn is not None and (step % config.train.val_every == 0 or last):
                state, scores = with_metric_ema(state, val_fn(state), config)
                record.update(scores)
            if lead:
                metrics_log.write(step, record)
            bar.set_postfix({k: f"{v:.4g}" for k, v in record.items()}, refresh=False)
            bar.update(step - bar.n)
            if scores or step % config.train.checkpoint_every == 0 or last:
                checkpoints.save(step, state, batches.get_state(), config, scores)
    bar.close()
    checkpoints.close()
    if lead:
        metrics_log.close()
        if metrics_log.path.stat().st_size:
            training_curves(metrics_log.path, workdir / "curves.png")
    return state
