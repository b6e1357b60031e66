"""Faster R-CNN (seed 002): backbone, region proposal network and RoIAlign box head, channels last."""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxseg.models.detection.backbones import STRIDE, VGG16, ResNetFPN, scaled
from jaxseg.models.detection.roi_align import roi_align

BACKBONES = ("vgg16", "resnet_fpn")


class RPNHead(nn.Module):
    """3x3 conv (512 channels, ReLU), then 1x1 convs to 2 scores (background, object) and 4 deltas
    per anchor (18 and 36 channels for 9 anchors). (N, H, W, C) -> logits (N, H*W*A, 2),
    deltas (N, H*W*A, 4), in the order of jaxseg.models.detection.anchors.anchor_grid."""

    num_anchors: int = 9
    features: int = 512

    @nn.compact
    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        init = nn.initializers.normal(0.01)  # py-faster-rcnn's RPN initialisation
        x = nn.relu(nn.Conv(self.features, (3, 3), padding=1, kernel_init=init, name="conv")(x))
        logits = nn.Conv(2 * self.num_anchors, (1, 1), kernel_init=init, name="scores")(x)
        deltas = nn.Conv(4 * self.num_anchors, (1, 1), kernel_init=init, name="deltas")(x)
        n = x.shape[0]
        return logits.reshape(n, -1, 2).astype(jnp.float32), deltas.reshape(n, -1, 4).astype(jnp.float32)


class FasterRCNN(nn.Module):
    """Backbone (stride 16) + RPN head, and a box head on RoIAlign'ed features.

    `__call__(images)` -> (features (N, h, w, C), rpn logits (N, h*w*A, 2), rpn deltas (N, h*w*A, 4));
    `head(features, rois)` with rois (N, R, 4) image pixels -> (class logits (N, R, K),
    box deltas (N, R, K, 4)); K = num_classes including background (seed's VOC head: 21 / 84).
    The head is RoIAlign roi_size^2 -> fc6 -> fc7 (ReLU, fc_features each: 4096 in VGG16) -> two
    linear layers. `init_all` initialises both parts.
    """

    num_classes: int = 2
    backbone: str = "vgg16"
    width: float = 1.0
    frozen_convs: int = 4
    num_anchors: int = 9
    rpn_features: int = 512
    fc_features: int = 4096
    roi_size: int = 7
    sampling_ratio: int = 2
    stage_blocks: Sequence[int] = (3, 4, 6, 3)

    def setup(self) -> None:
        if self.backbone == "vgg16":
            self.extractor = VGG16(self.frozen_convs, self.width)
        elif self.backbone == "resnet_fpn":
            self.extractor = ResNetFPN(tuple(self.stage_blocks), scaled(256, self.width), self.width)
        else:
            raise ValueError(f"unknown backbone '{self.backbone}': expected one of {', '.join(BACKBONES)}")
        self.rpn = RPNHead(self.num_anchors, self.rpn_features)
        self.fc6 = nn.Dense(self.fc_features)
        self.fc7 = nn.Dense(self.fc_features)
        self.classifier = nn.Dense(self.num_classes, kernel_init=nn.initializers.normal(0.01))
        self.regressor = nn.Dense(4 * self.num_classes, kernel_init=nn.initializers.normal(0.001))

    def __call__(self, images: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        features = self.extractor(images)
        return (features, *self.rpn(features))

    def head(self, features: jax.Array, rois: jax.Array) -> tuple[jax.Array, jax.Array]:
        pooled = roi_align(features, rois, self.roi_size, 1.0 / STRIDE, self.sampling_ratio, aligned=True)
        x = pooled.reshape(*rois.shape[:2], -1)
        x = nn.relu(self.fc7(nn.relu(self.fc6(x))))
        logits = self.classifier(x).astype(jnp.float32)
        deltas = self.regressor(x).reshape(*rois.shape[:2], self.num_classes, 4).astype(jnp.float32)
        return logits, deltas

    def init_all(self, images: jax.Array) -> None:
        features, _, _ = self(images)
        self.head(features, jnp.zeros((images.shape[0], 1, 4), jnp.float32))
