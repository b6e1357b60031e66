"""Sliding-window prediction over 2D images and 3D volumes, with MONAI's window placement and blending.

For the same window function and options, `sliding_window_predict` gives what MONAI's
`sliding_window_inference` gives (window starts, symmetric padding of inputs smaller than the
window, Gaussian or constant importance weights clamped at max(min weight, 1e-3)), but on
channels-last arrays. Windows go to the device in batches of a fixed size, so the model compiles
once; the weighted sums are accumulated on the host, so device memory holds only one batch of
windows whatever the size of the volume.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import numpy as np

# windows (B, *roi_size, C_in) float32 -> predictions (B, *roi_size, C_out), B fixed.
WindowFn = Callable[[np.ndarray], np.ndarray]


def window_starts(image_size: Sequence[int], roi_size: Sequence[int], overlap: float) -> list[tuple[int, ...]]:
    """Start index of every window (MONAI's dense_patch_slices): a stride of int(roi * (1 - overlap)),
    at least 1, the last window of each axis moved back to end at the border."""
    per_axis = []
    for size, roi in zip(image_size, roi_size):
        interval = roi if roi == size else max(int(roi * (1 - overlap)), 1)
        count = next((d for d in range(math.ceil(size / interval)) if d * interval + roi >= size), 0) + 1
        per_axis.append([min(i * interval, size - roi) for i in range(count)])
    return list(itertools.product(*per_axis))


def importance_map(roi_size: Sequence[int], mode: str = "gaussian", sigma_scale: float = 0.125) -> np.ndarray:
    """Blending weights (*roi_size) float32: ones, or a separable Gaussian with sigma = sigma_scale * roi
    (peak 1 at the centre for odd sizes), clamped below at max(its minimum, 1e-3) as MONAI does."""
    if mode == "constant":
        weights = np.ones(roi_size, np.float32)
    elif mode == "gaussian":
        weights = np.ones((), np.float32)
        for size in roi_size:
            x = np.arange(size, dtype=np.float32) - (size - 1) / 2.0
            profile = np.exp(x**2 / (-2 * (size * sigma_scale) ** 2)).astype(np.float32)
            weights = weights[..., None] * profile
    else:
        raise ValueError(f"blend mode must be 'gaussian' or 'constant', got '{mode}'")
    return np.maximum(weights, max(float(weights.min()), 1e-3)).astype(np.float32)


def sliding_window_predict(predict_fn: WindowFn, image: np.ndarray, roi_size: Sequence[int], overlap: float = 0.5,
                           mode: str = "gaussian", sigma_scale: float = 0.125, batch_size: int = 4,
                           pad_value: float | np.ndarray = 0.0) -> np.ndarray:
    """Predictions (*spatial, C_out) float32 for one image (*spatial, C_in), window by window.

    roi_size: window size per spatial axis; overlap in [0, 1) (0.5 is nnU-Net's step 0.5; 0 with
    mode "constant" tiles without overlap, seed 000's 3D inference). Axes smaller than the window
    are padded symmetrically with `pad_value` (one number, or one per input channel) and cropped
    back after.
    """
    spatial = image.shape[:-1]
    if len(roi_size) != len(spatial):
        raise ValueError(f"roi_size {tuple(roi_size)} has {len(roi_size)} axes, the image {len(spatial)} spatial axes")
    if not 0 <= overlap < 1:
        raise ValueError(f"overlap must be in [0, 1), got {overlap}")
    pads = [((r - s) // 2, r - s - (r - s) // 2) if r > s else (0, 0) for s, r in zip(spatial, roi_size)]
    padded = np.empty((*(s + lo + hi for s, (lo, hi) in zip(spatial, pads)), image.shape[-1]), image.dtype)
    padded[...] = pad_value
    padded[tuple(slice(lo, lo + s) for (lo, _), s in zip(pads, spatial))] = image
    size = padded.shape[:-1]
    weights = importance_map(roi_size, mode, sigma_scale)
    starts = window_starts(size, roi_size, overlap)
    total = count = None
    for first in range(0, len(starts), batch_size):
        chunk = starts[first : first + batch_size]
        boxes = [tuple(slice(s, s + r) for s, r in zip(start, roi_size)) for start in chunk]
        windows = np.stack([padded[box] for box in boxes])
        if len(windows) < batch_size:  # keep the batch shape fixed: one compilation
            windows = np.concatenate([windows, np.repeat(windows[-1:], batch_size - len(windows), axis=0)])
        predictions = np.asarray(predict_fn(windows), dtype=np.float32)
        if total is None:
            total = np.zeros((*size, predictions.shape[-1]), np.float32)
            count = np.zeros(size, np.float32)
        for box, prediction in zip(boxes, predictions):
            total[box] += prediction * weights[..., None]
            count[box] += weights
    crop = tuple(slice(lo, lo + s) for (lo, _), s in zip(pads, spatial))
    return total[crop] / count[crop][..., None]
