"""Overlap metrics on label maps (numpy in, float out).

Empty-mask convention, the same for every metric here: when prediction and reference are both
empty the overlap is 1.0 (nothing to find, nothing found); when exactly one is empty it is 0.0.
"""

from __future__ import annotations

import numpy as np


def _counts(pred: np.ndarray, true: np.ndarray) -> tuple[int, int, int]:
    pred, true = np.asarray(pred, bool), np.asarray(true, bool)
    if pred.shape != true.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from reference shape {true.shape}")
    tp = int(np.count_nonzero(pred & true))
    return tp, int(np.count_nonzero(pred)) - tp, int(np.count_nonzero(true)) - tp


def dice_score(pred: np.ndarray, true: np.ndarray) -> float:
    """Dice = 2|A n B| / (|A| + |B|) of two binary masks of equal shape."""
    tp, fp, fn = _counts(pred, true)
    return 1.0 if tp + fp + fn == 0 else 2 * tp / (2 * tp + fp + fn)


def iou_score(pred: np.ndarray, true: np.ndarray) -> float:
    """IoU (Jaccard) = |A n B| / |A u B| of two binary masks of equal shape."""
    tp, fp, fn = _counts(pred, true)
    return 1.0 if tp + fp + fn == 0 else tp / (tp + fp + fn)


def per_class_overlap(pred: np.ndarray, true: np.ndarray, labels: dict[int, str]) -> dict[str, dict[str, float]]:
    """Dice and IoU of each foreground class of two label maps: {class name: {"Dice", "IoU"}}."""
    return {
        name: {"Dice": dice_score(pred == value, true == value), "IoU": iou_score(pred == value, true == value)}
        for value, name in labels.items()
        if value != 0
    }
