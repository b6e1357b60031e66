"""Overlap metrics of binary masks (numpy in, float out).

Empty-mask convention, the same for every jaxseg metric: when prediction and reference are both
empty an overlap is 1.0 (nothing to find, nothing found) and a distance 0; when exactly one is
empty an overlap is 0.0 and a distance inf. Ratios whose denominator is empty follow it:
sensitivity with an empty reference, precision with an empty prediction, volume error with an
empty reference (0 or inf), specificity when the reference fills the image (1.0: no negatives
to miss).
"""

from __future__ import annotations

import numpy as np


def confusion_counts(pred: np.ndarray, true: np.ndarray) -> tuple[int, int, int, int]:
    """(TP, FP, FN, TN) voxel counts of two binary masks of equal shape."""
    pred, true = np.asarray(pred, bool), np.asarray(true, bool)
    if pred.shape != true.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from reference shape {true.shape}")
    tp = int(np.count_nonzero(pred & true))
    fp = int(np.count_nonzero(pred)) - tp
    fn = int(np.count_nonzero(true)) - tp
    return tp, fp, fn, pred.size - tp - fp - fn


def _ratio(numerator: int, denominator: int, both_empty: bool) -> float:
    if denominator == 0:
        return 1.0 if both_empty else 0.0
    return numerator / denominator


def dice_score(pred: np.ndarray, true: np.ndarray) -> float:
    """Dice = 2|A n B| / (|A| + |B|) = 2TP / (2TP + FP + FN) of two binary masks of equal shape."""
    tp, fp, fn, _ = confusion_counts(pred, true)
    return _ratio(2 * tp, 2 * tp + fp + fn, True)


def iou_score(pred: np.ndarray, true: np.ndarray) -> float:
    """IoU (Jaccard) = |A n B| / |A u B| = TP / (TP + FP + FN) of two binary masks of equal shape."""
    tp, fp, fn, _ = confusion_counts(pred, true)
    return _ratio(tp, tp + fp + fn, True)


def sensitivity(pred: np.ndarray, true: np.ndarray) -> float:
    """Sensitivity (recall) = TP / (TP + FN)."""
    tp, fp, fn, _ = confusion_counts(pred, true)
    return _ratio(tp, tp + fn, fp == 0)


def precision(pred: np.ndarray, true: np.ndarray) -> float:
    """Precision (positive predictive value) = TP / (TP + FP)."""
    tp, fp, fn, _ = confusion_counts(pred, true)
    return _ratio(tp, tp + fp, fn == 0)


def specificity(pred: np.ndarray, true: np.ndarray) -> float:
    """Specificity = TN / (TN + FP); 1.0 when the reference fills the image."""
    _, fp, _, tn = confusion_counts(pred, true)
    return _ratio(tn, tn + fp, True)


def volume_error(pred: np.ndarray, true: np.ndarray) -> float:
    """Relative volume error (|A| - |B|) / |B| (A the prediction): 0 is the right volume, > 0 too much."""
    tp, fp, fn, _ = confusion_counts(pred, true)
    if tp + fn == 0:
        return 0.0 if fp == 0 else float("inf")
    return (fp - fn) / (tp + fn)


def per_volume_iou(pred: np.ndarray, true: np.ndarray, threshold: float = 0.5, eps: float = 1e-6) -> float:
    """Seed 000's IoU of one whole volume: (|A n B| + eps) / (|A u B| + eps) after thresholding.

    pred: probabilities or a mask of a whole scan (slices stacked), binarised at >= threshold;
    true: the reference mask. One value per volume, not a mean of per-slice values. Two empty masks
    give 1.0; one empty mask gives eps / (|A u B| + eps), about 0.
    """
    pred_mask = np.asarray(pred) >= threshold
    tp, fp, fn, _ = confusion_counts(pred_mask, true)
    return (tp + eps) / (tp + fp + fn + eps)


def per_class_overlap(pred: np.ndarray, true: np.ndarray, labels: dict[int, str]) -> dict[str, dict[str, float]]:
    """Dice and IoU of each foreground class of two label maps: {class name: {"Dice", "IoU"}}."""
    return {
        name: {"Dice": dice_score(pred == value, true == value), "IoU": iou_score(pred == value, true == value)}
        for value, name in labels.items()
        if value != 0
    }
