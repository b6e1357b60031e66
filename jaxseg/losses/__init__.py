"""Segmentation and detection losses: pure, jit-compatible functions of logits and targets.

Shapes: logits (N, *spatial, C) channels-last; labels integer class indices (N, *spatial) or
per-channel targets (N, *spatial, C). Every loss returns a float32 scalar.
"""

from jaxseg.losses.adversarial import adversarial_loss
from jaxseg.losses.cross_entropy import binary_cross_entropy, cross_entropy, focal_loss, inverse_frequency_weights
from jaxseg.losses.deep_supervision import deep_supervision_loss, deep_supervision_weights, downsample_labels
from jaxseg.losses.detection import sampled_cross_entropy, smooth_l1
from jaxseg.losses.overlap import dice_ce_loss, dice_loss, generalized_dice_loss, jaccard_loss, tversky_loss

__all__ = [
    "adversarial_loss",
    "binary_cross_entropy",
    "cross_entropy",
    "deep_supervision_loss",
    "deep_supervision_weights",
    "dice_ce_loss",
    "dice_loss",
    "downsample_labels",
    "focal_loss",
    "generalized_dice_loss",
    "inverse_frequency_weights",
    "jaccard_loss",
    "sampled_cross_entropy",
    "smooth_l1",
    "tversky_loss",
]
