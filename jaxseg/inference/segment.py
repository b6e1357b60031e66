"""A whole volume -> class probabilities and a label map, as a config's `inference` section says."""

from __future__ import annotations

from collections.abc import Callable

import ml_collections
import numpy as np

from jaxseg.inference.planes import predict_by_slices
from jaxseg.inference.postprocess import fill_holes, keep_largest_component
from jaxseg.inference.sliding_window import sliding_window_predict

# images (B, *spatial, C_in) -> class probabilities (B, *spatial, C), B = the batch it was built for.
ProbabilityFn = Callable[[np.ndarray], np.ndarray]


def volume_probabilities(predict_fn: ProbabilityFn, image: np.ndarray, plane_axis: int,
                         inference: ml_collections.ConfigDict, batch_size: int, pad_multiple: int) -> np.ndarray:
    """Class probabilities (I, J, K, C) of a normalised single-channel volume (I, J, K).

    inference.mode "slices": a 2D model on whole slices along `plane_axis` (padded to
    `pad_multiple`); "sliding_window" with a 3-axis roi_size: a 3D model on windows of the volume;
    with a 2-axis roi_size: a 2D model on windows of each slice along `plane_axis`.
    """
    if inference.mode == "slices":
        return predict_by_slices(predict_fn, image, plane_axis, batch_size, pad_multiple)
    roi = tuple(inference.roi_size)
    window = lambda x: sliding_window_predict(predict_fn, x, roi, inference.overlap, inference.blend,  # noqa: E731
                                              batch_size=batch_size, pad_value=float(image.min()))
    if len(roi) == 3:
        return window(image[..., None])
    slices = [window(s[..., None]) for s in np.moveaxis(image, plane_axis, 0)]
    return np.moveaxis(np.stack(slices), 0, plane_axis)


def label_map(probabilities: np.ndarray, inference: ml_collections.ConfigDict) -> np.ndarray:
    """Arg-max labels (uint8) of probabilities (..., C), then the configured post-processing."""
    labels = probabilities.argmax(-1).astype(np.uint8)
    classes = range(1, probabilities.shape[-1])
    if inference.largest_component:
        labels = keep_largest_component(labels, classes)
    if inference.fill_holes:
        labels = fill_holes(labels, classes)
    return labels
