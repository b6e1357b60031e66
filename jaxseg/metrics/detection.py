"""Detection metrics: RSNA pneumonia mAP, DSB2018 instance mAP and COCO-style AP for boxes.

Boxes are (K, 4) arrays (x_min, y_min, x_max, y_max) in pixels; `xywh_to_xyxy` converts the RSNA
CSV format (x, y, width, height). Scores are (K,) confidences, higher is surer.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

RSNA_THRESHOLDS = tuple(np.round(np.arange(0.40, 0.751, 0.05), 2))
DSB2018_THRESHOLDS = tuple(np.round(np.arange(0.50, 0.951, 0.05), 2))


def xywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    """(K, 4) boxes (x, y, width, height) -> (x_min, y_min, x_max, y_max)."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    return np.concatenate([boxes[:, :2], boxes[:, :2] + boxes[:, 2:]], axis=1)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(M, K) IoU of boxes a (M, 4) and b (K, 4); a box of zero or negative area overlaps nothing."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    low = np.maximum(a[:, None, :2], b[None, :, :2])
    high = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(high - low, 0, None), axis=2)
    union = area_a[:, None] + area_b[None, :] - inter
    valid = (area_a[:, None] > 0) & (area_b[None, :] > 0)
    return np.where(valid, inter / np.where(valid, union, 1.0), 0.0)


def _by_score(boxes: np.ndarray, scores: np.ndarray) -> np.ndarray:
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    scores = np.asarray(scores, np.float64).reshape(-1)
    if len(scores) != len(boxes):
        raise ValueError(f"{len(boxes)} boxes but {len(scores)} scores")
    return boxes[np.argsort(-scores, kind="stable")]


def rsna_image_score(true_boxes: np.ndarray, pred_boxes: np.ndarray, scores: np.ndarray,
                     thresholds: Sequence[float] = RSNA_THRESHOLDS) -> float | None:
    """One image's RSNA Pneumonia Detection score: the mean over IoU thresholds t of TP/(TP+FP+FN).

    Predictions are ranked by score; each reference box in turn takes the best-ranked prediction not
    yet taken whose IoU with it is >= t (the competition's evaluation). Empty-image rules: no
    reference box and no prediction -> None (the image does not count); no reference box but a
    prediction -> 0; reference boxes but no prediction -> 0.
    """
    true_boxes = np.asarray(true_boxes, np.float64).reshape(-1, 4)
    pred_boxes = _by_score(pred_boxes, scores)
    if len(true_boxes) == 0 and len(pred_boxes) == 0:
        return None
    iou = box_iou(true_boxes, pred_boxes)
    total = 0.0
    for t in thresholds:
        taken = np.zeros(len(pred_boxes), bool)
        for row in iou:
            candidates = np.flatnonzero((row >= t) & ~taken)
            if len(candidates):
                taken[candidates[0]] = True
        tp = int(taken.sum())
        fp, fn = len(pred_boxes) - tp, len(true_boxes) - tp
        total += tp / (tp + fp + fn)
    return total / len(thresholds)


def rsna_map(images: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
             thresholds: Sequence[float] = RSNA_THRESHOLDS) -> float:
    """RSNA mAP: the mean of `rsna_image_score` over images (true_boxes, pred_boxes, scores) that count.

    1.0 when no image counts (nothing to find, nothing found).
    """
    counted = [s for s in (rsna_image_score(*image, thresholds=thresholds) for image in images) if s is not None]
    return float(np.mean(counted)) if counted else 1.0


def _instance_iou(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """(T, P) IoU of the instances (non-zero labels, any values) of two label maps."""
    pred, true = np.asarray(pred), np.asarray(true)
    if pred.shape != true.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from reference shape {true.shape}")
    _, p = np.unique(pred, return_inverse=True)
    _, t = np.unique(true, return_inverse=True)
    p, t = p.reshape(-1), t.reshape(-1)
    # Index 0 is background when the map has any; drop it only then.
    p_offset, t_offset = int((pred == 0).any()), int((true == 0).any())
    n_p, n_t = p.max() + 1, t.max() + 1
    inter = np.bincount(t * n_p + p, minlength=n_t * n_p).reshape(n_t, n_p)
    area_p, area_t = np.bincount(p, minlength=n_p), np.bincount(t, minlength=n_t)
    inter = inter[t_offset:, p_offset:]
    union = area_t[t_offset:, None] + area_p[None, p_offset:] - inter
    return inter / np.maximum(union, 1)


def instance_map(pred: np.ndarray, true: np.ndarray, thresholds: Sequence[float] = DSB2018_THRESHOLDS) -> float:
    """One image's DSB2018 score: the mean over t of TP/(TP+FP+FN), an instance pair matching when
    their IoU > t (unique for t >= 0.5).

    pred, true: instance label maps of equal shape (0 background, each object its own label).
    Both without objects -> 1.0; one without -> 0.0.
    """
    iou = _instance_iou(pred, true)
    n_true, n_pred = iou.shape
    if n_true == 0 and n_pred == 0:
        return 1.0
    scores = []
    for t in thresholds:
        tp = int((iou > t).sum())
        scores.append(tp / (n_true + n_pred - tp))
    return float(np.mean(scores))


def dsb2018_map(pairs: Sequence[tuple[np.ndarray, np.ndarray]],
                thresholds: Sequence[float] = DSB2018_THRESHOLDS) -> float:
    """DSB2018 (and seed 002's) mAP: the mean over images (pred, true) of `instance_map`."""
    return float(np.mean([instance_map(pred, true, thresholds) for pred, true in pairs]))


def average_precision(true_boxes: Sequence[np.ndarray], pred_boxes: Sequence[np.ndarray],
                      scores: Sequence[np.ndarray], iou_threshold: float = 0.5, max_detections: int = 100) -> float:
    """COCO-style AP of one class at one IoU threshold (AP@0.5 by default), over a set of images.

    Per image, the `max_detections` best-scored boxes are matched in score order, each to the
    unmatched reference box of highest IoU >= threshold. Over all images, detections ranked by
    score give a precision/recall curve; AP is the mean of the interpolated precision (the best
    precision at any recall >= r) at recalls r = 0, 0.01, ..., 1, as pycocotools computes it
    (no crowd or area ranges). No reference boxes anywhere: 1.0 without detections, else 0.0.
    """
    if not len(true_boxes) == len(pred_boxes) == len(scores):
        raise ValueError("true_boxes, pred_boxes and scores need one entry per image")
    matched, ranked_scores, num_true = [], [], 0
    for truth, boxes, conf in zip(true_boxes, pred_boxes, scores):
        truth = np.asarray(truth, np.float64).reshape(-1, 4)
        conf = np.asarray(conf, np.float64).reshape(-1)
        order = np.argsort(-conf, kind="stable")[:max_detections]
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)[order]
        num_true += len(truth)
        iou = box_iou(boxes, truth)
        used = np.zeros(len(truth), bool)
        for row in iou:
            candidates = np.where(used, -1.0, row)
            # pycocotools keeps the last of equally good reference boxes.
            best = len(candidates) - 1 - int(np.argmax(candidates[::-1])) if len(truth) else -1
            hit = best >= 0 and candidates[best] >= iou_threshold
            if hit:
                used[best] = True
            matched.append(hit)
        ranked_scores.append(conf[order])
    if num_true == 0 or not matched:
        return 1.0 if num_true == 0 and not matched else 0.0
    order = np.argsort(-np.concatenate(ranked_scores), kind="mergesort")
    hits = np.asarray(matched, bool)[order]
    tp, fp = np.cumsum(hits), np.cumsum(~hits)
    recall = tp / num_true
    prec = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
    envelope = np.maximum.accumulate(prec[::-1])[::-1]
    levels = np.linspace(0.0, 1.0, 101)
    index = np.searchsorted(recall, levels, side="left")
    interpolated = np.where(index < len(envelope), envelope[np.minimum(index, len(envelope) - 1)], 0.0)
    return float(interpolated.mean())
