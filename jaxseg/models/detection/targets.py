"""Training targets: which anchors and RoIs are sampled, their classes and box deltas.

Per image, static shapes, random choices from a JAX key: vmap over the batch. Ground-truth boxes
come padded: gt_boxes (G, 4), gt_labels (G,) int (1.. for classes), gt_valid (G,) bool.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxseg.models.detection.boxes import box_iou, encode


def _random_rank(key: jax.Array, chosen: jax.Array) -> jax.Array:
    """(N,) rank of each chosen element in a random order of the chosen ones (the others rank after)."""
    order = jnp.argsort(jnp.where(chosen, jax.random.uniform(key, chosen.shape), 2.0))
    return jnp.zeros(chosen.shape, jnp.int32).at[order].set(jnp.arange(chosen.shape[0], dtype=jnp.int32))


def _match(boxes: jax.Array, gt_boxes: jax.Array, gt_valid: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(IoU (N, G) with padded GT at -1, best IoU per box (N,) (0 without GT), best GT per box (N,))."""
    iou = jnp.where(gt_valid[None, :], box_iou(boxes, gt_boxes), -1.0)
    best = jnp.maximum(iou.max(axis=1), 0.0)
    return iou, best, iou.argmax(axis=1)


class AnchorTargets(NamedTuple):
    """labels (A,) int32: 1 sampled positive, 0 sampled negative, -1 not sampled; deltas (A, 4)
    from each anchor to its best ground-truth box (zeros where it is not a positive)."""

    labels: jax.Array
    deltas: jax.Array


def anchor_targets(anchors: jax.Array, gt_boxes: jax.Array, gt_valid: jax.Array, key: jax.Array,
                   num_samples: int = 256, positive_fraction: float = 0.5, positive_iou: float = 0.7,
                   negative_iou: float = 0.3, weights: Sequence[float] = (1.0, 1.0, 1.0, 1.0)) -> AnchorTargets:
    """RPN targets (seed 002): positives are anchors with IoU >= positive_iou with a ground-truth box,
    plus, for each ground-truth box, the anchors of highest IoU with it (so every box has one);
    negatives have IoU < negative_iou with every box. At most num_samples * positive_fraction
    positives are drawn at random, and negatives fill the sample to num_samples.
    """
    iou, best, matched = _match(anchors, gt_boxes, gt_valid)
    best_per_gt = iou.max(axis=0)
    closest = ((iou == best_per_gt[None, :]) & gt_valid[None, :] & (best_per_gt[None, :] > 0)).any(axis=1)
    positive = (best >= positive_iou) | closest
    negative = (best < negative_iou) & ~positive
    pos_key, neg_key = jax.random.split(key)
    positive = positive & (_random_rank(pos_key, positive) < int(num_samples * positive_fraction))
    negative = negative & (_random_rank(neg_key, negative) < num_samples - positive.sum())
    labels = jnp.where(positive, 1, jnp.where(negative, 0, -1)).astype(jnp.int32)
    deltas = encode(gt_boxes[matched], anchors, weights)
    return AnchorTargets(labels, jnp.where(positive[:, None], deltas, 0.0))


class RoiTargets(NamedTuple):
    """The sampled RoIs of one image: rois (S, 4); labels (S,) int32 class (0 background);
    deltas (S, 4) to the matched ground-truth box (zeros for background); valid (S,) bool
    (False for padding, when fewer RoIs qualify than S)."""

    rois: jax.Array
    labels: jax.Array
    deltas: jax.Array
    valid: jax.Array


def roi_targets(proposals: jax.Array, proposal_valid: jax.Array, gt_boxes: jax.Array, gt_labels: jax.Array,
                gt_valid: jax.Array, key: jax.Array, num_samples: int = 128, positive_fraction: float = 0.25,
                foreground_iou: float = 0.5, background_iou: tuple[float, float] = (0.1, 0.5),
                weights: Sequence[float] = (10.0, 10.0, 5.0, 5.0)) -> RoiTargets:
    """Head targets: the ground-truth boxes join the proposals (so each box has a perfect RoI);
    foreground RoIs have IoU >= foreground_iou with a box and take its class, background RoIs have
    their best IoU in [background_iou[0], background_iou[1]) (0 for images without boxes). At most
    num_samples * positive_fraction foreground RoIs are drawn at random; background fills up to
    num_samples; the rest is padding.
    """
    padding = max(num_samples - proposals.shape[0] - gt_boxes.shape[0], 0)  # S rows out, however few come in
    rois = jnp.concatenate([proposals, gt_boxes, jnp.zeros((padding, 4), proposals.dtype)])
    valid = jnp.concatenate([proposal_valid, gt_valid, jnp.zeros(padding, bool)])
    _, best, matched = _match(rois, gt_boxes, gt_valid)
    low, high = background_iou
    foreground = valid & (best >= foreground_iou)
    background = valid & (best >= low) & (best < high)
    fg_key, bg_key = jax.random.split(key)
    foreground = foreground & (_random_rank(fg_key, foreground) < int(num_samples * positive_fraction))
    background = background & (_random_rank(bg_key, background) < num_samples - foreground.sum())
    # Sampled RoIs first, foreground before background, then padding.
    priority = jnp.where(foreground, 0, jnp.where(background, 1, 2))
    pick = jnp.argsort(priority, stable=True)[:num_samples]
    fg, chosen = foreground[pick], (foreground | background)[pick]
    picked = rois[pick]
    deltas = encode(gt_boxes[matched[pick]], picked, weights)
    return RoiTargets(picked, jnp.where(fg, gt_labels[matched[pick]], 0).astype(jnp.int32),
                      jnp.where(fg[:, None], deltas, 0.0), chosen)
