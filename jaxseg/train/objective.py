"""The loss function a config's `loss` section names, and the training objective of a whole config."""

from __future__ import annotations

from functools import partial

import jax.numpy as jnp
import ml_collections

from jaxseg import losses
from jaxseg.train.step import LossFn


def make_loss_fn(config: ml_collections.ConfigDict) -> LossFn:
    """(logits, labels) -> scalar loss for `loss.name` = dice_ce | cross_entropy | dice | jaccard | focal.

    loss.class_weights weight the cross-entropy (of dice_ce too) and are focal's per-class alpha.
    """
    weights = jnp.asarray(config.class_weights, jnp.float32) if config.class_weights else None
    if config.name == "dice_ce":
        return partial(losses.dice_ce_loss, dice_weight=config.dice_weight, ce_weight=config.ce_weight,
                       include_background=config.include_background, class_weights=weights)
    if config.name == "cross_entropy":
        return partial(losses.cross_entropy, class_weights=weights)
    if config.name == "dice":
        return partial(losses.dice_loss, include_background=config.include_background)
    if config.name == "jaccard":
        return partial(losses.jaccard_loss, include_background=config.include_background)
    if config.name == "focal":
        return partial(losses.focal_loss, gamma=config.focal_gamma, alpha=weights, activation="softmax")
    raise ValueError(f"unknown loss '{config.name}'")


def make_objective(config: ml_collections.ConfigDict) -> tuple[LossFn, bool]:
    """(loss_fn, forward_with_labels) for `compile_train_step`: the `loss` section's loss, wrapped in seed
    002's GAN objective when `adversarial.enabled` (whose model output needs the labels)."""
    loss_fn = make_loss_fn(config.loss)
    if not config.adversarial.enabled:
        return loss_fn, False
    return partial(losses.adversarial_loss, segmentation_loss=loss_fn, weight=config.adversarial.weight), True
