"""`jaxseg bench data`: can the input pipeline feed the configured model's train step on this machine?

Both sides come from the config's task (`Task.training`): its batches and its compiled step,
device augmentation included, exactly what `jaxseg train` runs.
"""

from __future__ import annotations

import time
from pathlib import Path

import jax
import ml_collections

from jaxseg.core.mesh import global_batch, mesh_from_config
from jaxseg.data.schedule import PREFETCH_BATCHES
from jaxseg.tasks import Training, get_task


def _timed(fn, count: int) -> float:
    start = time.perf_counter()
    for _ in range(count):
        fn()
    return time.perf_counter() - start


def task_training(config: ml_collections.ConfigDict, workdir: str | Path) -> Training:
    """The config's task's training setup (data prepared in `workdir`), without validation."""
    return get_task(config.task).training(config, Path(workdir), mesh_from_config(config.mesh), lambda _: None,
                                          validation=False)


def pipeline_rate(config: ml_collections.ConfigDict, training: Training, batches: int = 20) -> tuple[dict, dict]:
    """(samples/s and MB/s of the training batches (`data.workers` workers, global `data.batch_size`),
    timed over `batches` batches after warm-up batches that empty the prefetch buffers (worker
    start-up and buffered batches excluded); the first batch, host arrays)."""
    first = next(training.batches)
    # Drain what the workers and threads buffered while starting, so that the timing sees production.
    _timed(lambda: next(training.batches), (config.data.workers + 1) * (PREFETCH_BATCHES + 1))
    pipeline_s = _timed(lambda: next(training.batches), batches)
    batch_mb = sum(v.nbytes for v in first.values()) / 1e6
    data_rate = batches * config.data.batch_size / pipeline_s
    return {
        "sampler": config.data.sampler,
        "sample_shape": list(first["image"].shape[1:]),
        "batch_size": config.data.batch_size,
        "workers": config.data.workers,
        "batch_mb": batch_mb,
        "data_samples_per_s": round(data_rate, 2),
        "data_mb_per_s": round(data_rate / config.data.batch_size * batch_mb, 2),
        "cases": training.cases,
    }, first


def train_rate(config: ml_collections.ConfigDict, training: Training, batch: dict, steps: int = 10) -> float:
    """Samples/s of the training's compiled step on this machine's devices, over `steps` steps after
    compilation, on `batch` (host arrays) put on the devices once."""
    on_device = global_batch(batch, training.mesh)
    holder = {"state": training.state}

    def train_once():
        holder["state"], metrics = training.step(holder["state"], on_device)
        jax.block_until_ready(metrics)

    train_once()  # compile
    return steps * config.data.batch_size / _timed(train_once, steps)


def next_to_step(pipeline: dict, train_samples_per_s: float) -> dict:
    """A `pipeline_rate` result with the train step's samples/s and their ratio (> 1: the pipeline
    delivers faster than the train step consumes)."""
    return {**pipeline, "train_samples_per_s": round(train_samples_per_s, 2),
            "ratio": round(pipeline["data_samples_per_s"] / train_samples_per_s, 3),
            "devices": f"{jax.device_count()} x {jax.devices()[0].device_kind}"}


def bench_data(config: ml_collections.ConfigDict, workdir: str | Path, batches: int = 20, steps: int = 10) -> dict:
    """`pipeline_rate` next to `train_rate` on its first batch (see `next_to_step`)."""
    training = task_training(config, workdir)
    try:
        pipeline, first = pipeline_rate(config, training, batches)
        return next_to_step(pipeline, train_rate(config, training, first, steps))
    finally:
        training.batches.close()
