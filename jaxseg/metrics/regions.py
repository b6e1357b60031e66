"""Metrics of label maps per region: unions of labels, such as the BRATS tumour regions."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from jaxseg.metrics.overlap import dice_score, precision, sensitivity, specificity

# BRATS labels: 1 necrosis, 2 oedema, 3 non-enhancing tumour, 4 enhancing tumour (seed 001 §3.1).
BRATS_REGIONS: dict[str, tuple[int, ...]] = {"whole": (1, 2, 3, 4), "core": (1, 3, 4), "enhancing": (4,)}

REGION_METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "Dice": dice_score,
    "Precision": precision,
    "Sensitivity": sensitivity,
    "Specificity": specificity,
}


def region_mask(label_map: np.ndarray, labels: Sequence[int]) -> np.ndarray:
    """Boolean mask of the voxels whose label is one of `labels`."""
    return np.isin(label_map, labels)


def per_region_metrics(pred: np.ndarray, true: np.ndarray,
                       regions: Mapping[str, Sequence[int]] = BRATS_REGIONS,
                       metrics: Mapping[str, Callable[[np.ndarray, np.ndarray], float]] = REGION_METRICS,
                       ) -> dict[str, dict[str, float]]:
    """{region: {metric: value}} of two integer label maps of equal shape, each region the union of
    its labels; by default BRATS whole/core/enhancing with Dice, precision, sensitivity, specificity
    (seed 001's Tables 3-5).
    """
    out = {}
    for name, labels in regions.items():
        p, t = region_mask(pred, labels), region_mask(true, labels)
        out[name] = {metric: fn(p, t) for metric, fn in metrics.items()}
    return out
