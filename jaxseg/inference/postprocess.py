"""Post-processing of label maps: largest connected component per class, hole filling."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from scipy import ndimage


def keep_largest_component(labels: np.ndarray, classes: Iterable[int]) -> np.ndarray:
    """Label map with, for each class in `classes`, only its largest face-connected component
    kept; the voxels of the others become background (0)."""
    out = labels.copy()
    for value in classes:
        components, count = ndimage.label(labels == value)
        if count > 1:
            sizes = np.bincount(components.ravel())[1:]
            out[(components > 0) & (components != sizes.argmax() + 1)] = 0
    return out


def fill_holes(labels: np.ndarray, classes: Iterable[int]) -> np.ndarray:
    """Label map with background holes fully enclosed by a class (in 3D, or 2D for 2D maps) set to
    that class; enclosed voxels of other classes are left alone."""
    out = labels.copy()
    for value in classes:
        mask = labels == value
        out[ndimage.binary_fill_holes(mask) & ~mask & (labels == 0)] = value
    return out
