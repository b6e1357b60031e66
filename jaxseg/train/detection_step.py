"""Faster R-CNN's joint loss and its pure train step (compiled by `jaxseg.train.step.compile_step`).

Batches (static shapes, see jaxseg.data.detection): image (N, H, W, C), boxes (N, G, 4),
labels (N, G), box_valid (N, G), image_size (N, 2), scale (N,).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import optax

from jaxseg.core.state import TrainState
from jaxseg.losses import sampled_cross_entropy, smooth_l1
from jaxseg.models.detection import (
    HEAD_WEIGHTS,
    RPN_WEIGHTS,
    FasterRCNN,
    anchor_targets,
    feature_anchors,
    propose,
    roi_targets,
)
from jaxseg.train.detection_state import RNG_IMPL


def detection_loss(params, apply_fn, batch: dict[str, jax.Array], key: jax.Array,
                   d: ml_collections.ConfigDict) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Seed 002's approximate joint training: RPN classification + RPN smooth-L1 (sigma rpn_sigma)
    + head classification + head smooth-L1 (sigma roi_sigma), summed. Proposals are constants
    (no gradient through them). Classification losses are means over the sampled anchors / RoIs;
    box losses are sums over positives divided by the number sampled (torchvision's normalisation).
    Returns (loss, the four terms).
    """
    variables = {"params": params}
    features, rpn_logits, rpn_deltas = apply_fn(variables, batch["image"])
    anchors = feature_anchors(features, d.anchor_scales, d.anchor_ratios)
    n = features.shape[0]
    anchor_keys, roi_keys = jnp.split(jax.random.split(key, 2 * n), 2)
    negative_iou, positive_iou = d.rpn_iou
    rpn = jax.vmap(lambda b, v, k: anchor_targets(anchors, b, v, k, d.rpn_samples, d.rpn_positive_fraction,
                                                   positive_iou, negative_iou, RPN_WEIGHTS))(
        batch["boxes"], batch["box_valid"], anchor_keys)
    proposals = jax.vmap(lambda s, t, size: propose(anchors, s, t, size, d.rpn_pre_nms[0], d.rpn_post_nms[0],
                                                    d.rpn_nms_iou, RPN_WEIGHTS))(
        jax.lax.stop_gradient(rpn_logits), jax.lax.stop_gradient(rpn_deltas), batch["image_size"])
    rois = jax.vmap(lambda p, pv, b, lab, v, k: roi_targets(p, pv, b, lab, v, k, d.roi_samples, d.roi_positive_fraction,
                                                            d.roi_foreground_iou, tuple(d.roi_background_iou),
                                                            HEAD_WEIGHTS))(
        proposals.boxes, proposals.valid, batch["boxes"], batch["labels"], batch["box_valid"], roi_keys)
    class_logits, box_deltas = apply_fn(variables, features, rois.rois, method=FasterRCNN.head)
    sampled = rpn.labels >= 0
    positive = rois.valid & (rois.labels > 0)
    class_deltas = jnp.take_along_axis(box_deltas, rois.labels[..., None, None], axis=2)[..., 0, :]
    terms = {
        "rpn_cls": sampled_cross_entropy(rpn_logits, rpn.labels, sampled),
        "rpn_box": smooth_l1(rpn_deltas, rpn.deltas, d.rpn_sigma, rpn.labels == 1, jnp.maximum(sampled.sum(), 1)),
        "roi_cls": sampled_cross_entropy(class_logits, rois.labels, rois.valid),
        "roi_box": smooth_l1(class_deltas, rois.deltas, d.roi_sigma, positive, jnp.maximum(rois.valid.sum(), 1)),
    }
    return sum(terms.values()), terms


def detection_train_step(state: TrainState, batch: dict[str, jax.Array],
                         d: ml_collections.ConfigDict) -> tuple[TrainState, dict]:
    """One optimiser step; the sampling key is folded from the state's key and step (resumable).
    Returns the new state and {"loss", "grad_norm", rpn_cls, rpn_box, roi_cls, roi_box}."""
    key = jax.random.fold_in(jax.random.wrap_key_data(state.rng, impl=RNG_IMPL), state.step)
    (loss, terms), grads = jax.value_and_grad(detection_loss, has_aux=True)(state.params, state.apply_fn, batch, key, d)
    state = state.apply_gradients(grads=grads)
    return state, {"loss": loss, "grad_norm": optax.tree.norm(grads), **terms}
