"""`fit_detection`: the Faster R-CNN training loop that `jaxseg train` runs for task = "detection"."""

from __future__ import annotations

import logging
from pathlib import Path

import jax
import ml_collections

from jaxseg.data.detection import detection_splits, read_detection_index, training_batches
from jaxseg.inference.detection import detect_images, score_detections
from jaxseg.train.checkpoint import DETECTION_METRIC, Checkpoints, best_metric_key
from jaxseg.train.detection_state import build_detection_state
from jaxseg.train.detection_step import compile_detection_predict_step, compile_detection_train_step
from jaxseg.train.loop import local_batch_size, run_training
from jaxseg.train.mesh import mesh_from_config
from jaxseg.train.run_folder import check_config_unchanged, locked_workdir
from jaxseg.train.state import TrainState


log = logging.getLogger(__name__)


def fit_detection(config: ml_collections.ConfigDict, workdir: str | Path, progress: bool = True,
                  resume_with_changed_config: bool = False) -> TrainState:
    """Train Faster R-CNN per the config in `workdir`, resuming from its newest intact checkpoint.

    Writes what `jaxseg.train.loop.fit` writes, under the same workdir lock and config check; the
    best checkpoint is the one of highest validation AP@0.5 (`val_ap50`), when data.num_val > 0.
    """
    workdir = Path(workdir)
    with locked_workdir(workdir):
        checkpoints = Checkpoints(workdir / "checkpoints", keep=config.train.keep_checkpoints,
                                  best_metric=best_metric_key(config))
        check_config_unchanged(checkpoints, config, resume_with_changed_config)
        splits = detection_splits(config, read_detection_index(config))
        log.info("%d training images, %d validation images", len(splits["train"]), len(splits["val"]))
        mesh = mesh_from_config(config.mesh)
        local_batch = local_batch_size(config, mesh)
        state = build_detection_state(config, mesh)
        batches = training_batches(config, splits["train"], local_batch, jax.process_index(), jax.process_count())
        step_fn = compile_detection_train_step(config.detection, mesh)
        val_images = splits["val"]
        predict = compile_detection_predict_step(config.detection, mesh)

        def validate(state: TrainState) -> dict[str, float]:
            found = detect_images(predict, state, val_images, config, mesh)
            return {DETECTION_METRIC: score_detections(val_images, found, config.detection.classes)["mean_AP50"]}

        try:
            return run_training(config, workdir, state, batches, step_fn, mesh, validate if val_images else None,
                                checkpoints, progress)
        finally:  # Also after an error: see `Checkpoints.close`.
            checkpoints.close()
            batches.close()
