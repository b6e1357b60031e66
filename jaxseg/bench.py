"""`jaxseg bench data`: can the input pipeline feed the configured model's train step on this machine?"""

from __future__ import annotations

import time
from pathlib import Path

import jax
import ml_collections
import numpy as np

from jaxseg.data.datasets import open_dataset
from jaxseg.data.device_augment import DeviceAugmentation
from jaxseg.data.pipeline import training_data
from jaxseg.data.schedule import PREFETCH_BATCHES
from jaxseg.models import downsampling_factor
from jaxseg.train.build import build_state
from jaxseg.train.mesh import global_batch, mesh_from_config
from jaxseg.train.objective import make_objective
from jaxseg.train.augment import compile_augmentation, with_augmentation
from jaxseg.train.step import compile_train_step


def _timed(fn, count: int) -> float:
    start = time.perf_counter()
    for _ in range(count):
        fn()
    return time.perf_counter() - start


def pipeline_rate(config: ml_collections.ConfigDict, workdir: str | Path, batches: int = 20) -> tuple[dict, dict]:
    """(samples/s and MB/s of the configured sampler (`data.workers` workers, global `data.batch_size`),
    timed over `batches` batches after warm-up batches that empty the prefetch buffers (worker
    start-up and buffered batches excluded); the first batch, host arrays)."""
    index, splits = open_dataset(config, workdir)
    data = training_data(config, workdir, index, splits["train"], downsampling_factor(config.model))
    iterator = data.batches(config.data.batch_size, seed=config.seed, workers=config.data.workers)
    first = next(iterator)
    # Drain what the workers and threads buffered while starting, so that the timing sees production.
    _timed(lambda: next(iterator), (config.data.workers + 1) * (PREFETCH_BATCHES + 1))
    pipeline_s = _timed(lambda: next(iterator), batches)
    iterator.close()
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
        "cases": len(data.cases),
    }, first


def train_rate(config: ml_collections.ConfigDict, batch: dict, steps: int = 10,
               augmentation: DeviceAugmentation | None = None) -> float:
    """Samples/s of the configured model's train step on this machine's devices, over `steps` steps
    after compilation, on `batch` (host arrays) put on the devices once; with `augmentation`
    (augment.device), the device augmentation of the batch's margin blocks is part of each step."""
    mesh = mesh_from_config(config.mesh)
    margin = augmentation.margin if augmentation else (0,) * (batch["image"].ndim - 2)
    state = build_state(config, mesh, tuple(s - 2 * m for s, m in zip(batch["image"].shape[1:-1], margin)))
    loss_fn, forward_with_labels = make_objective(
        config, [np.bincount(np.ravel(batch["label"]), minlength=config.model.num_classes)])
    step = compile_train_step(loss_fn, mesh, config.train.grad_accum_steps, forward_with_labels)
    if augmentation:
        step = with_augmentation(step, compile_augmentation(augmentation, mesh))
    on_device = global_batch(batch, mesh)
    holder = {"state": state}

    def train_once():
        holder["state"], metrics = step(holder["state"], on_device)
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
    pipeline, first = pipeline_rate(config, workdir, batches)
    augmentation = None
    if config.augment.device:
        index, splits = open_dataset(config, workdir)
        augmentation = training_data(config, workdir, index, splits["train"],
                                     downsampling_factor(config.model)).device_augmentation
    return next_to_step(pipeline, train_rate(config, first, steps, augmentation))
