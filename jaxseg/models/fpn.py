"""Seed 002's ResNet-FPN segmenter, channels last, 2D or 3D by the rank of its input."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxseg.models.layers import ConvSettings, normalization, resize


class Bottleneck(nn.Module):
    """ResNet bottleneck unit: 1x1 -> 3^n (stride here, as torchvision) -> 1x1 to 4 * features, plus the
    input (projected by a strided 1x1 conv when the shape changes), then ReLU."""

    features: int
    stride: int
    settings: ConvSettings

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        s, rank = self.settings, x.ndim - 2
        h = s.norm_act(s.conv(self.features, 1, rank, normalized=True)(x), train)
        h = s.norm_act(s.conv(self.features, 3, rank, stride=self.stride, normalized=True)(h), train)
        h = s.conv(4 * self.features, 1, rank, normalized=True)(h)
        h = normalization(s.norm, train, s.bn_momentum, s.dtype)(h)
        if self.stride > 1 or x.shape[-1] != h.shape[-1]:
            x = s.conv(4 * self.features, 1, rank, stride=self.stride, normalized=True)(x)
            x = normalization(s.norm, train, s.bn_momentum, s.dtype)(x)
        return nn.relu(h + x)


class FPNSegmenter(nn.Module):
    """ResNet C2-C5 -> 1x1 laterals -> top-down x2 nearest upsample-and-add -> 3^n smoothing to P2-P5 ->
    each linearly resized to the input size and concatenated -> 3^n conv + ReLU -> 1x1 conv.

    (N, *S, C_in) -> logits (N, *S, num_classes), float32; S divisible by 32. stage_blocks (3, 4, 6, 3)
    is ResNet-50 (seed 002 does not name the depth); batch norm in the backbone, He initialisation.
    head_features, the width of the 3^n head conv, is not given by the seed either.
    """

    stage_blocks: Sequence[int] = (3, 4, 6, 3)
    fpn_features: int = 256
    head_features: int = 128
    num_classes: int = 1
    head: str = "sigmoid"
    bn_momentum: float = 0.9
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        rank, size = x.ndim - 2, x.shape[1:-1]
        if any(d % 32 for d in size):
            raise ValueError(f"FPNSegmenter input {size}: use sizes divisible by 32")
        s = ConvSettings(bn_momentum=self.bn_momentum, kernel_init="he", dtype=self.dtype, param_dtype=self.param_dtype)
        x = s.norm_act(s.conv(64, 7, rank, stride=2, normalized=True)(x), train)
        x = nn.max_pool(x, (3,) * rank, strides=(2,) * rank, padding=[(1, 1)] * rank)
        stages = []
        for i, blocks in enumerate(self.stage_blocks):
            for b in range(blocks):
                x = Bottleneck(64 * 2**i, 2 if b == 0 and i > 0 else 1, s)(x, train)
            stages.append(x)
        laterals = [s.conv(self.fpn_features, 1, rank)(c) for c in stages]
        merged = [laterals[-1]]
        for lateral in reversed(laterals[:-1]):
            merged.insert(0, lateral + resize(merged[0], lateral.shape[1:-1], "nearest"))
        pyramid = [s.conv(self.fpn_features, 3, rank)(m) for m in merged]
        x = jnp.concatenate([resize(p, size, "linear") for p in pyramid], axis=-1)
        x = nn.relu(s.conv(self.head_features, 3, rank)(x))
        return s.conv(self.num_classes, 1, rank)(x).astype(jnp.float32)
