"""A whole volume -> class probabilities and a label map, as a config's `inference` section says."""

from __future__ import annotations

from collections.abc import Callable

import ml_collections
import numpy as np

from jaxseg.data.preprocess import resize_linear
from jaxseg.inference.overlap_tile import overlap_tile_predict
from jaxseg.inference.planes import predict_by_slices
from jaxseg.inference.postprocess import fill_holes, keep_largest_component
from jaxseg.inference.sliding_window import sliding_window_predict

# images (B, *spatial, C_in) -> class probabilities (B, *spatial, C), B = the batch it was built for.
ProbabilityFn = Callable[[np.ndarray], np.ndarray]


def volume_probabilities(predict_fn: ProbabilityFn, image: np.ndarray, plane_axis: int,
                         inference: ml_collections.ConfigDict, batch_size: int, pad_multiple: int,
                         pad_value: float | np.ndarray, model_shape: tuple[int, ...] | None = None,
                         tile: tuple[int, int, int] | None = None) -> np.ndarray:
    """Class probabilities (I, J, K, C) of a normalised volume (I, J, K) or (I, J, K, C_in).

    inference.mode "slices": a 2D model on whole slices along `plane_axis` (padded to
    `pad_multiple`); "sliding_window" with a 3-axis roi_size: a 3D model on windows of the volume;
    with a 2-axis roi_size: a 2D model on windows of each slice along `plane_axis`. Padding takes
    `pad_value` per channel (the value of empty space, as in training: see `jaxseg.data.slices`).
    model_shape: the grid the model was trained on (`jaxseg.data.preprocess.model_grid_shape`: resampled
    to `prepare.spacing_mm`, or slices resized to `prepare.slice_size`): the volume is first resized
    to it (linearly), as `prepare` resized the training cases, and the probabilities back to its grid.
    tile: (tile_in, tile_out, alignment) of a valid-padding 2D network (`jaxseg.models.overlap_tile`):
    slices are predicted by overlap-tile instead.
    """
    image = image if image.ndim == 4 else image[..., None]
    shape = image.shape[:3]
    resized = model_shape is not None and tuple(model_shape) != shape
    if resized:
        image = resize_linear(image, tuple(model_shape))
    if tile is not None:
        probabilities = overlap_tile_predict(predict_fn, image, plane_axis, batch_size, *tile)
    elif inference.mode == "slices":
        probabilities = predict_by_slices(predict_fn, image, plane_axis, batch_size, pad_multiple, pad_value)
    else:
        roi = tuple(inference.roi_size)
        window = lambda x: sliding_window_predict(predict_fn, x, roi, inference.overlap, inference.blend,  # noqa: E731
                                                  batch_size=batch_size, pad_value=pad_value)
        if len(roi) == 3:
            probabilities = window(image)
        else:
            slices = [window(s) for s in np.moveaxis(image, plane_axis, 0)]
            probabilities = np.moveaxis(np.stack(slices), 0, plane_axis)
    return resize_linear(probabilities, shape) if resized else probabilities


def label_map(probabilities: np.ndarray, inference: ml_collections.ConfigDict,
              activation: str = "softmax") -> np.ndarray:
    """Labels (uint8) of probabilities (..., C), then the configured post-processing.

    softmax: the arg-max class. sigmoid: output c is class c + 1 where it reaches `inference.threshold`;
    where several do, the highest class wins (nested regions: the innermost).
    """
    if activation == "sigmoid":
        labels = np.zeros(probabilities.shape[:-1], np.uint8)
        for c in range(probabilities.shape[-1]):
            labels[probabilities[..., c] >= inference.threshold] = c + 1
        classes = range(1, probabilities.shape[-1] + 1)
    else:
        labels = probabilities.argmax(-1).astype(np.uint8)
        classes = range(1, probabilities.shape[-1])
    if inference.largest_component:
        labels = keep_largest_component(labels, classes)
    if inference.fill_holes:
        labels = fill_holes(labels, classes)
    return labels
