"""RoIAlign (Mask R-CNN) with torchvision.ops.roi_align semantics, channels last.

Bilinear sampling and the mean over a bin's sample grid are both separable in y and x, so each
RoI's output is Wy @ F @ Wx^T per channel, with Wy (out_h, H) and Wx (out_w, W) holding the
summed sampling weights: two small matmuls per RoI instead of a gather per sample point.
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp


def _axis_weights(start: jax.Array, size: jax.Array, bins: int, grid: jax.Array, max_grid: int,
                  length: int) -> jax.Array:
    """(K, bins, length) weights of the samples of each bin along one axis of the feature map.

    start, size: (K,) RoI extent in feature pixels; grid: (K,) samples per bin, at most max_grid.
    A sample at position p (torchvision's bilinear_interpolate) is 0 outside [-1, length], is
    clamped to [0, length - 1], and splits its weight between the two pixels around it.
    """
    bin_size = size / bins
    steps = jnp.arange(max_grid)
    # (K, bins, max_grid) sample positions: bin b's samples at (i + 0.5) / grid of the bin.
    p = (start[:, None, None] + jnp.arange(bins)[None, :, None] * bin_size[:, None, None]
         + (steps[None, None, :] + 0.5) * (bin_size / jnp.maximum(grid, 1))[:, None, None])
    used = (steps[None, None, :] < grid[:, None, None]) & (p >= -1.0) & (p <= length)
    p = jnp.clip(p, 0.0, length - 1)
    low = jnp.floor(p).astype(jnp.int32)
    high = jnp.minimum(low + 1, length - 1)
    frac = p - low
    weights = (jax.nn.one_hot(low, length) * (1.0 - frac)[..., None]
               + jax.nn.one_hot(high, length) * frac[..., None]) * used[..., None]
    return weights.sum(axis=2) / jnp.maximum(grid, 1)[:, None, None].astype(weights.dtype)


def _roi_align_image(features: jax.Array, boxes: jax.Array, output_size: tuple[int, int], spatial_scale: float,
                     sampling_ratio: int, aligned: bool) -> jax.Array:
    height, width, _ = features.shape
    out_h, out_w = output_size
    offset = 0.5 if aligned else 0.0
    x1, y1, x2, y2 = (boxes[:, i].astype(jnp.float32) * spatial_scale - offset for i in range(4))
    roi_w, roi_h = x2 - x1, y2 - y1
    if not aligned:  # torchvision's legacy mode makes every RoI at least one pixel big.
        roi_w, roi_h = jnp.maximum(roi_w, 1.0), jnp.maximum(roi_h, 1.0)
    if sampling_ratio > 0:
        grid_h = grid_w = jnp.full(boxes.shape[:1], sampling_ratio, jnp.int32)
        max_h = max_w = sampling_ratio
    else:  # ceil(roi / bins) samples per bin, bounded for static shapes (see roi_align).
        grid_h = jnp.ceil(roi_h / out_h).astype(jnp.int32)
        grid_w = jnp.ceil(roi_w / out_w).astype(jnp.int32)
        max_h, max_w = math.ceil((height + 1) / out_h), math.ceil((width + 1) / out_w)
        grid_h, grid_w = jnp.minimum(grid_h, max_h), jnp.minimum(grid_w, max_w)
    wy = _axis_weights(y1, roi_h, out_h, grid_h, max_h, height)
    wx = _axis_weights(x1, roi_w, out_w, grid_w, max_w, width)
    rows = jnp.einsum("kqw,hwc->khqc", wx.astype(features.dtype), features)
    return jnp.einsum("kph,khqc->kpqc", wy.astype(features.dtype), rows)


@partial(jax.jit, static_argnames=("output_size", "spatial_scale", "sampling_ratio", "aligned"))
def roi_align(features: jax.Array, boxes: jax.Array, output_size: int | tuple[int, int], spatial_scale: float,
              sampling_ratio: int = 2, aligned: bool = True) -> jax.Array:
    """Features of boxes resampled to a fixed grid, as torchvision.ops.roi_align computes them.

    features: (N, H, W, C) maps; boxes: (N, K, 4) (x1, y1, x2, y2) in image pixels, K per image.
    spatial_scale: feature pixels per image pixel (1/16 for a stride-16 backbone).
    sampling_ratio: samples per bin along each axis; <= 0 takes ceil(RoI size / output size) per
    RoI, as torchvision does, up to ceil((H + 1) / out_h) (and likewise in x) for static shapes:
    exact for every RoI at most one feature pixel larger than the map (all boxes inside the image).
    aligned: shift by half a pixel so that box corners fall on pixel corners (Detectron2);
    False is the original RoIAlign. Returns (N, K, out_h, out_w, C) in the features' dtype.
    """
    size = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)
    return jax.vmap(lambda f, b: _roi_align_image(f, b, size, spatial_scale, sampling_ratio, aligned))(features, boxes)
