"""Box arithmetic for detection: IoU, the (dx, dy, dw, dh) box coder, clipping.

Boxes are (..., 4) arrays (x1, y1, x2, y2) in pixels, x the column and y the row, as in
torchvision and jaxseg.metrics.detection; widths are x2 - x1 (no "+ 1" of py-faster-rcnn).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp

# Exponents above this would overflow float32 in `decode` (torchvision's bound: log(1000 / 16)).
MAX_LOG_SCALE = math.log(1000.0 / 16)
# The coder's weights of the RPN and of the box head: py-faster-rcnn's target normalisation
# (std 0.1, 0.1, 0.2, 0.2) for the head.
RPN_WEIGHTS = (1.0, 1.0, 1.0, 1.0)
HEAD_WEIGHTS = (10.0, 10.0, 5.0, 5.0)


def box_area(boxes: jax.Array) -> jax.Array:
    """(...,) area of (..., 4) boxes; boxes with x2 < x1 or y2 < y1 have area 0."""
    return jnp.clip(boxes[..., 2] - boxes[..., 0], 0) * jnp.clip(boxes[..., 3] - boxes[..., 1], 0)


def box_iou(a: jax.Array, b: jax.Array) -> jax.Array:
    """(M, K) IoU of boxes a (M, 4) and b (K, 4); 0 where the union is empty."""
    low = jnp.maximum(a[:, None, :2], b[None, :, :2])
    high = jnp.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = jnp.prod(jnp.clip(high - low, 0), axis=-1)
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    return jnp.where(union > 0, inter / jnp.where(union > 0, union, 1.0), 0.0)


def _centre_size(boxes: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    w = boxes[..., 2] - boxes[..., 0]
    h = boxes[..., 3] - boxes[..., 1]
    return boxes[..., 0] + 0.5 * w, boxes[..., 1] + 0.5 * h, w, h


def encode(boxes: jax.Array, reference: jax.Array, weights: Sequence[float] = (1.0, 1.0, 1.0, 1.0)) -> jax.Array:
    """Deltas (..., 4) that move `reference` boxes onto `boxes` (seed 002, eq. 3.4):

    dx = wx (x - x_r) / w_r, dy = wy (y - y_r) / h_r, dw = ww log(w / w_r), dh = wh log(h / h_r),
    (x, y) box centres and (w, h) sizes. The weights scale the deltas to similar ranges
    (torchvision's head: 10, 10, 5, 5; the RPN: 1, 1, 1, 1). Both boxes need positive sizes.
    """
    x, y, w, h = _centre_size(boxes)
    xr, yr, wr, hr = _centre_size(reference)
    wx, wy, ww, wh = weights
    return jnp.stack([wx * (x - xr) / wr, wy * (y - yr) / hr, ww * jnp.log(w / wr), wh * jnp.log(h / hr)], axis=-1)


def decode(deltas: jax.Array, reference: jax.Array, weights: Sequence[float] = (1.0, 1.0, 1.0, 1.0)) -> jax.Array:
    """Boxes (..., 4) from deltas against `reference` boxes: the inverse of `encode`.

    dw and dh are clipped to log(1000 / 16) first, so that untrained heads cannot overflow.
    """
    xr, yr, wr, hr = _centre_size(reference)
    wx, wy, ww, wh = weights
    x = deltas[..., 0] / wx * wr + xr
    y = deltas[..., 1] / wy * hr + yr
    w = jnp.exp(jnp.minimum(deltas[..., 2] / ww, MAX_LOG_SCALE)) * wr
    h = jnp.exp(jnp.minimum(deltas[..., 3] / wh, MAX_LOG_SCALE)) * hr
    return jnp.stack([x - 0.5 * w, y - 0.5 * h, x + 0.5 * w, y + 0.5 * h], axis=-1)


def clip_boxes(boxes: jax.Array, image_size: jax.Array) -> jax.Array:
    """Boxes (..., 4) clipped to an image of `image_size` (height, width) pixels."""
    height, width = image_size[0].astype(boxes.dtype), image_size[1].astype(boxes.dtype)
    limits = jnp.stack([width, height, width, height])
    return jnp.clip(boxes, 0.0, limits)
