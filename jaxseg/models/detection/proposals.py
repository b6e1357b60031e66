"""Region proposals from RPN outputs: top-k, decode, clip, NMS, all in fixed shapes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxseg.models.detection.boxes import clip_boxes, decode
from jaxseg.models.detection.nms import nms

# Proposals narrower or shorter than this many pixels are dropped: RoI box targets divide by sizes.
MIN_PROPOSAL_SIZE = 1.0


class Proposals(NamedTuple):
    """boxes (P, 4) best first; scores (P,) objectness probabilities; valid (P,) bool (kept ones first)."""

    boxes: jax.Array
    scores: jax.Array
    valid: jax.Array


def propose(anchors: jax.Array, logits: jax.Array, deltas: jax.Array, image_size: jax.Array, pre_nms: int,
            post_nms: int, nms_threshold: float = 0.7, weights: Sequence[float] = (1.0, 1.0, 1.0, 1.0)) -> Proposals:
    """One image's proposals: the `pre_nms` anchors of highest objectness, decoded by their deltas
    and clipped to the image, then NMS at `nms_threshold` keeping at most `post_nms`
    (seed 002: 6000 -> 300 in test; 12000 -> 2000 in training).

    anchors: (A, 4); logits: (A, 2) background/object scores; deltas: (A, 4);
    image_size: (2,) height and width of the image inside its padded canvas, pixels.
    """
    objectness = jax.nn.softmax(logits.astype(jnp.float32), axis=-1)[:, 1]
    top, index = jax.lax.top_k(objectness, min(pre_nms, anchors.shape[0]))
    boxes = clip_boxes(decode(deltas[index].astype(jnp.float32), anchors[index], weights), image_size)
    big_enough = ((boxes[:, 2] - boxes[:, 0]) >= MIN_PROPOSAL_SIZE) & ((boxes[:, 3] - boxes[:, 1]) >= MIN_PROPOSAL_SIZE)
    kept, valid = nms(boxes, jnp.where(big_enough, top, -jnp.inf), nms_threshold, post_nms)
    return Proposals(boxes[kept], jnp.where(valid, top[kept], 0.0), valid)
