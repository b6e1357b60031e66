"""The loss function a config's `loss` section names."""

from __future__ import annotations

from functools import partial

import ml_collections

from jaxseg import losses
from jaxseg.train.step import LossFn


def make_loss_fn(config: ml_collections.ConfigDict) -> LossFn:
    """(logits, labels) -> scalar loss for `loss.name` = dice_ce | cross_entropy | dice."""
    if config.name == "dice_ce":
        return partial(losses.dice_ce_loss, dice_weight=config.dice_weight, ce_weight=config.ce_weight,
                       include_background=config.include_background)
    if config.name == "cross_entropy":
        return losses.cross_entropy
    if config.name == "dice":
        return partial(losses.dice_loss, include_background=config.include_background)
    raise ValueError(f"unknown loss '{config.name}'")
