"""`fit`: the training loop that `jaxseg train` and `jaxseg demo` run."""

from __future__ import annotations

import contextlib
import logging
import time
from functools import partial
from pathlib import Path

import jax
import ml_collections
from jax.sharding import Mesh

from jaxseg.data.datasets import load_cases, open_dataset
from jaxseg.data.pipeline import training_data
from jaxseg.models import downsampling_factor
from jaxseg.report import training_curves
from jaxseg.train.augment import compile_augmentation, with_augmentation
from jaxseg.train.build import build_state
from jaxseg.train.checkpoint import Checkpoints
from jaxseg.train.distributed import process_zero_first
from jaxseg.train.divergence import require_finite
from jaxseg.train.logging import MetricsLog, announce, progress_bar
from jaxseg.config import ConfigError
from jaxseg.train.mesh import SPACE_AXIS, data_parallel_size, global_batch, mesh_from_config
from jaxseg.train.objective import make_objective
from jaxseg.train.run_folder import check_config_unchanged, locked_workdir
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


def fit(config: ml_collections.ConfigDict, workdir: str | Path, progress: bool = True,
        resume_with_changed_config: bool = False) -> TrainState:
    """Train per the config in `workdir`, resuming from its newest intact checkpoint if any.

    Writes WORKDIR/checkpoints/ (the latest `train.keep_checkpoints` and the best by the validation
    metric `train.best_metric`, optionally averaged), metrics.jsonl, tensorboard/ and, at the end, curves.png. On SIGTERM or SIGINT it saves
    a checkpoint and raises TrainingInterrupted. The workdir is locked for the whole run
    (WorkdirInUse), and a config that differs from the checkpoints' is refused before anything is
    written (`check_config_unchanged`). Returns the final train state.
    """
    workdir = Path(workdir)
    say = partial(announce, enabled=progress and jax.process_index() == 0)
    with locked_workdir(workdir):
        checkpoints = Checkpoints(workdir / "checkpoints", keep=config.train.keep_checkpoints,
                                  best_metric=best_metric_key(config))
        check_config_unchanged(checkpoints, config, resume_with_changed_config)
        pad_multiple = downsampling_factor(config.model)
        tic = time.perf_counter()
        with process_zero_first("jaxseg-prepare-dataset"):  # one process writes the phantoms and the cache
            index, splits = open_dataset(config, workdir)
            say(f"preparing {len(splits['train'])} training cases of {index.root}")
            train_data = training_data(config, workdir, index, splits["train"], pad_multiple)
        done = train_data.prepared
        say(f"{len(train_data.cases)} training cases ready in {time.perf_counter() - tic:.1f} s ({len(done.prepared)} "
            f"prepared now, {len(done.reused)} reused, {len(done.failed)} failed; cache {done.folder})")
        tic = time.perf_counter()
        val_cases = load_cases(splits["val"], config, index, name="validation cases")
        say(f"{len(val_cases)} validation cases read in {time.perf_counter() - tic:.1f} s")
        log.info("%s; %d validation cases", train_data.description, len(val_cases))

        mesh = mesh_from_config(config.mesh)
        local_batch = local_batch_size(config, mesh, train_data.sample_shape)
        state = build_state(config, mesh, train_data.sample_shape)
        batches = train_data.batches(local_batch, seed=config.seed, workers=config.data.workers,
                                     shard_index=jax.process_index(), shard_count=jax.process_count())
        loss_fn, forward_with_labels = make_objective(config, [case.class_voxels for case in train_data.cases])
        step_fn = compile_train_step(loss_fn, mesh, config.train.grad_accum_steps, forward_with_labels)
        if train_data.device_augmentation is not None:
            step_fn = with_augmentation(step_fn, compile_augmentation(train_data.device_augmentation, mesh))
        val_fn = (lambda state: validate(state, val_cases, config, mesh)) if val_cases else None
        try:
            return run_training(config, workdir, state, batches, step_fn, mesh, val_fn, checkpoints, progress)
        finally:  # Also after an error: see `Checkpoints.close`.
            checkpoints.close()
            batches.close()


def run_training(config: ml_collections.ConfigDict, workdir: Path, state: TrainState, batches, step_fn, mesh,
                 val_fn, checkpoints: Checkpoints, progress: bool = True) -> TrainState:
    """The steps of a fit: resume from the newest intact of `checkpoints`, then step_fn(state, global
    batch) -> (state, metrics with "loss") until `train.steps`; log every `train.log_every` steps,
    validate with val_fn(state) -> {metric: value} (None: no validation) every `train.val_every`
    steps (adding the running average of the best metric when configured), checkpoint every
    `train.checkpoint_every` steps and after each validation, and plot curves.png at the end.
    Shared by the segmentation and detection fits.

    On SIGTERM/SIGINT the step in progress is finished, logged, validated when due, checkpointed,
    and TrainingInterrupted raised. A non-finite loss or parameter raises TrainingDiverged before
    anything non-finite is saved. A run already at `train.steps` says so and changes nothing.
    """
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
    if start < config.train.steps:
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
