"""A detection run's checkpoint -> boxes on a split's images -> AP@0.5 and RSNA mAP -> summary.json."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import jax
import numpy as np

from jaxseg.config import ConfigError, apply_override, validate
from jaxseg.data.detection import detection_splits, read_detection_index
from jaxseg.inference.detection import detect_images, score_detections
from jaxseg.io.atomic import write_text_atomic
from jaxseg.train.build import restore_checkpoint
from jaxseg.train.checkpoint import Checkpoints
from jaxseg.train.detection_step import compile_detection_predict_step


def is_detection_run(checkpoints_dir: Path) -> bool:
    """Whether the newest checkpoint in `checkpoints_dir` was trained with task = "detection"."""
    checkpoints = Checkpoints(checkpoints_dir)
    newest = checkpoints.newest_config()
    checkpoints.close()
    return newest is not None and newest[1].task == "detection"


def evaluate_detection_run(checkpoints_dir: Path, which: str | int, workdir: Path, split: str = "test",
                           out: str | Path | None = None, overrides: Sequence[str] = ()) -> dict:
    """Detect every image of `split` with the run's best checkpoint (by val_ap50; else the latest)
    and write OUT/summary.json (default WORKDIR/eval): the checkpoint, split, image count, AP@0.5
    and RSNA mAP per class and their means, and per_image (boxes in file pixels, scores, labels).
    An image that cannot be read is left out of the scores and listed in failed_cases (image id,
    file, reason); n_cases says how many images the scores cover, n_failed how many failed. A split
    without images, or none readable, raises ValueError before anything is written.
    Only inference.* and detection.* keys of inference (thresholds, NMS) can be overridden.
    """
    config, state, step, mesh = restore_checkpoint(checkpoints_dir, which)
    for override in overrides:
        if not override.startswith(("inference.", "detection.score_threshold", "detection.nms_iou",
                                     "detection.max_detections", "detection.rpn_")):
            raise ConfigError(f"override '{override}': only inference.* and detection inference keys can change "
                              "after training")
        apply_override(config, override)
    validate(config)
    images = detection_splits(config, read_detection_index(config))[split]
    if not images:
        raise ValueError(f"split '{split}' of {config.data.root} has no images")
    failed: list[dict] = []
    found = detect_images(compile_detection_predict_step(config.detection, mesh), state, images, config, mesh, failed)
    unread = {f["case_id"] for f in failed}
    scored = [image for image in images if image.case_id not in unread]
    if not scored:
        raise ValueError(f"no image of split '{split}' of {config.data.root} could be evaluated: "
                         + "; ".join(f"{f['case_id']} ({f['file']}: {f['reason']})" for f in failed))
    scores = score_detections(scored, found, config.detection.classes)
    per_image = [{"image": image.case_id, "boxes": np.round(boxes, 2).tolist(), "scores": np.round(s, 4).tolist(),
                  "labels": [config.detection.classes[i - 1] for i in labels]}
                 for image, (boxes, s, labels) in zip(scored, found)]
    summary = {"task": "detection", "checkpoint": str(Path(checkpoints_dir) / str(step)), "split": split,
               "images": len(images), **scores, "n_cases": len(scored), "n_failed": len(failed),
               "failed_cases": failed, "per_image": per_image}
    out = Path(out) if out else workdir / "eval"
    if jax.process_index() == 0:
        write_text_atomic(out / "summary.json", json.dumps(summary, indent=2))
    return summary


def format_detection_summary(summary: dict) -> str:
    """A short table: AP@0.5 and RSNA mAP per class, then the means; below it the images that failed."""
    lines = [f"| class | AP@0.5 | RSNA mAP |", "|---|---|---|"]
    lines += [f"| {name} | {summary['AP50'][name]:.4f} | {summary['rsna_mAP'][name]:.4f} |" for name in summary["AP50"]]
    lines.append(f"| mean | {summary['mean_AP50']:.4f} | {summary['mean_rsna_mAP']:.4f} |")
    if failed := summary["failed_cases"]:
        lines += ["", f"Scores over {summary['n_cases']} images; {len(failed)} failed and are not in them:"]
        lines += [f"- {f['case_id']}: {f['file']}: {f['reason']}" for f in failed]
    return "\n".join(lines)
