"""Whole-volume prediction with a 2D model applied to every slice of an anatomical plane."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from jaxseg.data.slices import pad_slices, padded_size, plane_stack

# images (B, H, W, C_in) float32 -> class probabilities (B, H, W, C) float32, B fixed.
PredictFn = Callable[[np.ndarray], np.ndarray]


def predict_by_slices(predict_fn: PredictFn, image: np.ndarray, axis: int, batch_size: int,
                      pad_multiple: int, pad_value: float | np.ndarray) -> np.ndarray:
    """Class probabilities (I, J, K, C) of a normalised volume (I, J, K) or (I, J, K, C_in), slice by
    slice along `axis`.

    Slices are padded with `pad_value` (per channel: the value of empty space, as in training; see
    `jaxseg.data.slices`) to multiples of `pad_multiple` and sent in batches of exactly
    `batch_size` (the last one filled with repeats), so `predict_fn` compiles once per slice shape.
    Probabilities are accumulated on the host, one batch at a time.
    """
    stack = plane_stack(image if image.ndim == 4 else image[..., None], axis)
    count, height, width = stack.shape[:3]
    padded = pad_slices(stack, padded_size(height, pad_multiple), padded_size(width, pad_multiple), pad_value)
    outputs = []
    for start in range(0, count, batch_size):
        chunk = padded[start : start + batch_size]
        filled = np.concatenate([chunk, np.repeat(chunk[-1:], batch_size - len(chunk), axis=0)])
        probs = np.asarray(predict_fn(filled))
        outputs.append(probs[: len(chunk), :height, :width])
    return np.moveaxis(np.concatenate(outputs), 0, axis)


def average_probabilities(probabilities: list[np.ndarray]) -> np.ndarray:
    """Fusion of several models' class probabilities over the same grid (seed 000's plane ensembles:
    "combined" averages the transverse, sagittal and coronal networks)."""
    shapes = {p.shape for p in probabilities}
    if len(shapes) != 1:
        raise ValueError(f"cannot fuse probabilities of different shapes {sorted(shapes)}")
    return np.mean(np.stack(probabilities), axis=0, dtype=np.float32)
