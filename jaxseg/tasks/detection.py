"""The detection task: seed 002's Faster R-CNN on 2D images with box CSVs, validated by AP@0.5
and evaluated by AP@0.5 and RSNA mAP per class."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import jax
import ml_collections
import numpy as np
from jax.sharding import Mesh

from jaxseg.config import ConfigError
from jaxseg.config.checks import check_detection
from jaxseg.core.mesh import local_batch_size
from jaxseg.core.state import TrainState
from jaxseg.data.detection import (
    cache_pixels,
    detection_splits,
    pixel_cache_folder,
    read_detection_index,
    training_batches,
)
from jaxseg.inference.detection import compile_detection_predict_step, detect_images, score_detections
from jaxseg.io.atomic import write_text_atomic
from jaxseg.tasks.base import Restored, Training
from jaxseg.tasks.registry import register_task
from jaxseg.train.detection_state import build_detection_state
from jaxseg.train.detection_step import detection_train_step
from jaxseg.train.distributed import process_zero_first
from jaxseg.train.step import compile_step

METRIC = "val_ap50"  # mean AP@0.5 over classes on the validation images


class DetectionTask:
    """Faster R-CNN boxes. Its data are 2D images and a box CSV (`jaxseg.data.detection`)."""

    inference_keys = ("inference.", "detection.score_threshold", "detection.nms_iou", "detection.max_detections",
                      "detection.rpn_")

    def check_config(self, config: ml_collections.ConfigDict) -> None:
        check_detection(config)
        if config.mesh.spatial != 1 or config.adversarial.enabled or config.train.grad_accum_steps != 1:
            raise ConfigError("config keys 'mesh.spatial' (> 1), 'adversarial.enabled' and 'train.grad_accum_steps' "
                              "(> 1) apply to segmentation, not to task = detection")
        if config.train.exact_reductions:
            raise ConfigError("config key 'train.exact_reductions' = True applies to segmentation (its step sums "
                              "across devices exactly), not to task = 'detection': set it to False")
        if config.augment.device:
            raise ConfigError("config key 'augment.device' = True applies to the slices, blocks and volumes samplers "
                              "of segmentation, not to task = 'detection': set it to False")

    def best_metric(self, config: ml_collections.ConfigDict) -> str:
        return METRIC

    def splits(self, config: ml_collections.ConfigDict, workdir: Path) -> tuple[Path, dict]:
        return Path(config.data.root), detection_splits(config, read_detection_index(config))

    def build_state(self, config: ml_collections.ConfigDict, mesh: Mesh,
                    sample_shape: tuple[int, ...] | None = None) -> TrainState:
        return build_detection_state(config, mesh)

    def training(self, config: ml_collections.ConfigDict, workdir: Path, mesh: Mesh, say: Callable[[str], None],
                 validation: bool = True) -> Training:
        splits = detection_splits(config, read_detection_index(config))
        folder = pixel_cache_folder(config, workdir)
        with process_zero_first("jaxseg-prepare-detection"):  # one process decodes, the others find the files
            train = cache_pixels(splits["train"], folder)
        say(f"{len(splits['train'])} training images (decoded into {folder}), {len(splits['val'])} validation images")
        batches = training_batches(config, train, local_batch_size(config, mesh), jax.process_index(),
                                   jax.process_count())
        step = compile_step(partial(detection_train_step, d=config.detection), mesh)
        validate = None
        if validation and splits["val"]:
            predict, images = compile_detection_predict_step(config.detection, mesh), splits["val"]

            def validate(state: TrainState) -> dict[str, float]:
                found = detect_images(predict, state, images, config, mesh)
                return {METRIC: score_detections(images, found, config.detection.classes)["mean_AP50"]}

        return Training(self.build_state(config, mesh), batches, step, validate, len(splits["train"]), mesh)

    def evaluate(self, runs: Sequence[Restored], workdir: Path, split: str, out: Path, data: str | Path | None,
                 progress: bool, prediction_format: str = "label-map") -> dict:
        """Detect every image of `split` and write OUT/summary.json: the checkpoint, split, image
        count, AP@0.5 and RSNA mAP per class and their means, and per_image (boxes in file pixels,
        scores, labels). An image that cannot be read is left out of the scores and listed in
        failed_cases (image id, file, reason); n_cases says how many images the scores cover,
        n_failed how many failed. A split without images, or none readable, raises ValueError
        before anything is written."""
        if len(runs) > 1:
            raise ValueError("detection runs are evaluated one at a time (no fusion)")
        if data is not None:
            raise ValueError("--data is for segmentation runs: a detection run is evaluated on its own dataset")
        if prediction_format != "label-map":
            raise ValueError(f"--format {prediction_format} writes label maps: a detection run reports boxes")
        config, state, mesh = runs[0].config, runs[0].state, runs[0].mesh
        images = detection_splits(config, read_detection_index(config))[split]
        if not images:
            raise ValueError(f"split '{split}' of {config.data.root} has no images")
        failed: list[dict] = []
        predict = compile_detection_predict_step(config.detection, mesh)
        found = detect_images(predict, state, images, config, mesh, failed)
        unread = {f["case_id"] for f in failed}
        scored = [image for image in images if image.case_id not in unread]
        if not scored:
            raise ValueError(f"no image of split '{split}' of {config.data.root} could be evaluated: "
                             + "; ".join(f"{f['case_id']} ({f['file']}: {f['reason']})" for f in failed))
        scores = score_detections(scored, found, config.detection.classes)
        per_image = [{"image": image.case_id, "boxes": np.round(boxes, 2).tolist(), "scores": np.round(s, 4).tolist(),
                      "labels": [config.detection.classes[i - 1] for i in labels]}
                     for image, (boxes, s, labels) in zip(scored, found)]
        summary = {"task": "detection", "checkpoint": str(runs[0].checkpoint), "split": split,
                   "images": len(images), **scores, "n_cases": len(scored), "n_failed": len(failed),
                   "failed_cases": failed, "per_image": per_image}
        if jax.process_index() == 0:
            write_text_atomic(out / "summary.json", json.dumps(summary, indent=2))
        return summary

    def predict(self, run: Restored, input_path: Path, output_path: Path, output_format: str | None = None) -> Path:
        raise ValueError(f"{run.checkpoint} holds a detection model: `jaxseg predict` writes label maps; evaluate "
                         "detections with `jaxseg evaluate`")

    def format_report(self, summary: dict) -> str:
        """A short table: AP@0.5 and RSNA mAP per class, then the means; below it the images that failed."""
        lines = ["| class | AP@0.5 | RSNA mAP |", "|---|---|---|"]
        lines += [f"| {name} | {summary['AP50'][name]:.4f} | {summary['rsna_mAP'][name]:.4f} |"
                  for name in summary["AP50"]]
        lines.append(f"| mean | {summary['mean_AP50']:.4f} | {summary['mean_rsna_mAP']:.4f} |")
        if failed := summary["failed_cases"]:
            lines += ["", f"Scores over {summary['n_cases']} images; {len(failed)} failed and are not in them:"]
            lines += [f"- {f['case_id']}: {f['file']}: {f['reason']}" for f in failed]
        return "\n".join(lines)


register_task("detection", DetectionTask())
