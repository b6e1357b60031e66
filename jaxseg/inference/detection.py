"""Detection inference: the compiled predict step, detections over dataset images, and their
scores (AP@0.5, RSNA mAP) per class."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import jax
import ml_collections
import numpy as np
from jax.sharding import Mesh

from jaxseg.core.mesh import batch_sharding, global_batch, replicated
from jaxseg.core.state import TrainState
from jaxseg.data.detection import DetectionImage, Resizing, evaluation_batches
from jaxseg.metrics import average_precision, rsna_map
from jaxseg.models.detection import HEAD_WEIGHTS, RPN_WEIGHTS, Detections, FasterRCNN, detect, feature_anchors, propose

Prediction = tuple[np.ndarray, np.ndarray, np.ndarray]  # boxes (D, 4) file pixels, scores (D,), labels (D,)


def detection_predict_step(state: TrainState, images: jax.Array, image_size: jax.Array,
                           d: ml_collections.ConfigDict) -> Detections:
    """Detections (boxes (N, D, 4) in canvas pixels, scores, labels, valid) with the test-mode proposal
    counts, the score threshold, per-class NMS and max_detections of the config."""
    variables = {"params": state.params}
    features, logits, deltas = state.apply_fn(variables, images)
    anchors = feature_anchors(features, d.anchor_scales, d.anchor_ratios)
    proposals = jax.vmap(lambda s, t, size: propose(anchors, s, t, size, d.rpn_pre_nms[1], d.rpn_post_nms[1],
                                                    d.rpn_nms_iou, RPN_WEIGHTS))(logits, deltas, image_size)
    class_logits, box_deltas = state.apply_fn(variables, features, proposals.boxes, method=FasterRCNN.head)
    return jax.vmap(lambda r, v, c, b, size: detect(r, v, c, b, size, d.score_threshold, d.nms_iou, d.max_detections,
                                                    HEAD_WEIGHTS))(
        proposals.boxes, proposals.valid, class_logits, box_deltas, image_size)


def compile_detection_predict_step(d: ml_collections.ConfigDict, mesh: Mesh):
    """The predict step jit-compiled: state replicated, images and sizes split along the data axis."""
    return jax.jit(partial(detection_predict_step, d=d),
                   in_shardings=(replicated(mesh), batch_sharding(mesh), batch_sharding(mesh)))


def detect_images(predict, state: TrainState, images: Sequence[DetectionImage], config: ml_collections.ConfigDict,
                  mesh: Mesh, failed: list[dict] | None = None) -> list[Prediction]:
    """Each image's detections, boxes (x1, y1, x2, y2) in the file's pixels, best first.

    predict: `compile_detection_predict_step(config.detection, mesh)`, made once per run (each new
    one compiles again). Images go through in batches of `inference.batch_size` rounded up to a
    multiple of the mesh size. failed: when given, images that cannot be read are appended to it
    ({"case_id", "file", "reason"}) and get no entry in the result, which lists the others in order;
    else a ReadError propagates.
    """
    batch_size = -(-config.inference.batch_size // mesh.size) * mesh.size
    results = []
    for chunk, batch in evaluation_batches(images, Resizing.from_config(config), batch_size, failed):
        arrays = global_batch({"image": batch["image"], "image_size": batch["image_size"]}, mesh)
        found = jax.device_get(predict(state, arrays["image"], arrays["image_size"]))
        for i in range(len(chunk)):
            keep = found.valid[i]
            results.append((found.boxes[i][keep] / batch["scale"][i], found.scores[i][keep], found.labels[i][keep]))
    return results


def score_detections(images: Sequence[DetectionImage], predictions: Sequence[Prediction],
                     classes: Sequence[str]) -> dict:
    """AP@0.5 (COCO-style, jaxseg.metrics.average_precision) and RSNA mAP (IoU 0.4..0.75) per class,
    and their means over classes: {"AP50": {class: value}, "rsna_mAP": {...}, "mean_AP50", "mean_rsna_mAP"}."""
    ap, rsna = {}, {}
    for number, name in enumerate(classes, start=1):
        truth = [image.boxes[image.labels == number] for image in images]
        boxes = [p[0][p[2] == number] for p in predictions]
        scores = [p[1][p[2] == number] for p in predictions]
        ap[name] = average_precision(truth, boxes, scores, iou_threshold=0.5)
        rsna[name] = rsna_map(list(zip(truth, boxes, scores)))
    return {"AP50": ap, "rsna_mAP": rsna, "mean_AP50": float(np.mean(list(ap.values()))),
            "mean_rsna_mAP": float(np.mean(list(rsna.values())))}
