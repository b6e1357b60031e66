"""Non-maximum suppression with a fixed-size output, so that it jit-compiles and vmaps over a batch."""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

from jaxseg.models.detection.boxes import box_iou


@partial(jax.jit, static_argnames=("iou_threshold", "max_output"))
def nms(boxes: jax.Array, scores: jax.Array, iou_threshold: float, max_output: int) -> tuple[jax.Array, jax.Array]:
    """Greedy NMS with torchvision.ops.nms semantics and a padded output.

    boxes: (N, 4) (x1, y1, x2, y2); scores: (N,), -inf for boxes that must not be kept (padding).
    Repeatedly keeps the best-scored box left and drops every other box whose IoU with it is
    > iou_threshold, until `max_output` boxes are kept or none is left.
    Returns (indices (max_output,) int32 into boxes, best first, 0 past the end;
    valid (max_output,) bool, True for the kept ones, which come first).
    Cost: one (N,) IoU row per kept box, never an (N, N) matrix (N is 12,000 in RPN training).
    """
    n = boxes.shape[0]
    boxes = boxes.astype(jnp.float32)
    scores = scores.astype(jnp.float32)
    positions = jnp.arange(n)

    def more(carry):
        count, alive, _ = carry
        return (count < max_output) & alive.any()

    def keep_best(carry):
        count, alive, kept = carry
        best = jnp.argmax(jnp.where(alive, scores, -jnp.inf))
        overlap = box_iou(boxes[best][None], boxes)[0]
        alive = alive & (overlap <= iou_threshold) & (positions != best)
        return count + 1, alive, kept.at[count].set(best.astype(jnp.int32))

    start = (jnp.int32(0), scores > -jnp.inf, jnp.zeros(max_output, jnp.int32))
    count, _, kept = jax.lax.while_loop(more, keep_best, start)
    return kept, jnp.arange(max_output) < count


def batched_nms(boxes: jax.Array, scores: jax.Array, classes: jax.Array, iou_threshold: float,
                max_output: int) -> tuple[jax.Array, jax.Array]:
    """NMS within each class (torchvision.ops.batched_nms): boxes of different classes never
    suppress each other. classes: (N,) int. Returns what `nms` does."""
    # Shifting each class's boxes by its own offset makes boxes of different classes disjoint.
    offsets = classes.astype(jnp.float32) * (jnp.max(boxes) + 1.0)
    return nms(boxes + offsets[:, None], scores, iou_threshold, max_output)
