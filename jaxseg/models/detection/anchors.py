"""Anchor boxes: `len(scales) * len(ratios)` boxes centred on every position of a feature map."""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np

from jaxseg.models.detection.backbones import STRIDE


def feature_size(image_size: int, stride: int) -> int:
    """Size of a backbone's map along one axis: each of its log2(stride) 2x2 max-pools floors
    (VGG16: 600 -> 300 -> 150 -> 75 -> 37)."""
    for _ in range(int(np.log2(stride))):
        image_size //= 2
    return image_size


def base_anchors(scales: Sequence[float], ratios: Sequence[float]) -> np.ndarray:
    """(len(ratios) * len(scales), 4) anchors centred on (0, 0), ratio-major: a box of scale s and
    ratio r (height / width) has area s^2, width s / sqrt(r) and height s sqrt(r)."""
    r = np.sqrt(np.asarray(ratios, np.float64))[:, None]
    s = np.asarray(scales, np.float64)[None, :]
    w, h = (s / r).reshape(-1), (s * r).reshape(-1)
    return np.stack([-w / 2, -h / 2, w / 2, h / 2], axis=1)


def anchor_grid(map_size: tuple[int, int], stride: int, scales: Sequence[float],
                ratios: Sequence[float]) -> np.ndarray:
    """(H * W * A, 4) float32 anchors (x1, y1, x2, y2) in image pixels for a (H, W) feature map.

    Position (i, j) covers image pixels [j * stride, (j + 1) * stride) and its anchors are centred
    there, at ((j + 0.5) * stride, (i + 0.5) * stride). Order: row i, then column j, then the A
    anchors of `base_anchors`, the order of the RPN head's outputs reshaped to (H * W * A, ...).
    A 600 x 600 image through VGG16 (37 x 37 map, 9 anchors) gives 12,321 anchors.
    """
    height, width = map_size
    ys, xs = (np.arange(height) + 0.5) * stride, (np.arange(width) + 0.5) * stride
    cy, cx = np.meshgrid(ys, xs, indexing="ij")
    centres = np.stack([cx, cy, cx, cy], axis=-1)[:, :, None, :]
    return (centres + base_anchors(scales, ratios)[None, None]).reshape(-1, 4).astype(np.float32)


def feature_anchors(features: jnp.ndarray, scales: Sequence[float], ratios: Sequence[float]) -> jnp.ndarray:
    """The anchors (H * W * A, 4) of a feature map (N, H, W, C) of stride STRIDE, as a JAX constant."""
    return jnp.asarray(anchor_grid(features.shape[1:3], STRIDE, scales, ratios))
