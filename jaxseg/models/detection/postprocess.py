"""Detections from the head's outputs: per-class boxes, score threshold, per-class NMS, top-k."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxseg.models.detection.boxes import clip_boxes, decode
from jaxseg.models.detection.nms import batched_nms


class Detections(NamedTuple):
    """boxes (D, 4) best first; scores (D,); labels (D,) int32 classes (1..); valid (D,) bool."""

    boxes: jax.Array
    scores: jax.Array
    labels: jax.Array
    valid: jax.Array


def detect(rois: jax.Array, roi_valid: jax.Array, class_logits: jax.Array, box_deltas: jax.Array,
           image_size: jax.Array, score_threshold: float, nms_threshold: float, max_detections: int,
           weights: Sequence[float] = (10.0, 10.0, 5.0, 5.0)) -> Detections:
    """One image's detections (seed 002: per class, drop scores <= 0.6, NMS at IoU 0.5).

    rois: (R, 4); roi_valid: (R,); class_logits: (R, K) with class 0 the background;
    box_deltas: (R, K, 4); image_size: (2,) height, width in pixels.
    """
    num_classes = class_logits.shape[-1]
    probs = jax.nn.softmax(class_logits.astype(jnp.float32), axis=-1)[:, 1:]
    boxes = clip_boxes(decode(box_deltas[:, 1:].astype(jnp.float32), rois[:, None, :], weights), image_size)
    labels = jnp.broadcast_to(jnp.arange(1, num_classes, dtype=jnp.int32), probs.shape)
    boxes, probs, labels = boxes.reshape(-1, 4), probs.reshape(-1), labels.reshape(-1)
    sized = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    keep = jnp.repeat(roi_valid, num_classes - 1) & sized & (probs > score_threshold)
    kept, valid = batched_nms(boxes, jnp.where(keep, probs, -jnp.inf), labels, nms_threshold, max_detections)
    return Detections(boxes[kept], jnp.where(valid, probs[kept], 0.0), jnp.where(valid, labels[kept], 0), valid)
