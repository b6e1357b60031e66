"""Detection backbones at stride 16: VGG16 (seed 002) and a ResNet-FPN, channels last."""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax

from jaxseg.models.fpn import Bottleneck
from jaxseg.models.layers import ConvSettings, resize

STRIDE = 16
# VGG16's 13 convolutions by block; a 2x2 max-pool follows each of the first four blocks.
VGG16_BLOCKS = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))


def scaled(channels: int, width: float) -> int:
    """A channel count times the width multiplier, at least 8 (the group-norm group count)."""
    return max(8, round(channels * width))


class VGG16(nn.Module):
    """The 13 3x3 convolutions of VGG16 (conv1_1 .. conv5_3) with ReLU and four max-pools:
    (N, H, W, C) -> (N, H/16, W/16, 512 * width), each pool flooring odd sizes.

    frozen_convs: the first convolutions get no gradient (seed 002: 4, as ImageNet-pretrained
    low-level filters are kept); the optimiser must also leave them alone (weight decay), see
    jaxseg.train.detection_state. width scales every channel count (1.0 is VGG16).
    """

    frozen_convs: int = 4
    width: float = 1.0

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        count = 0
        for block, widths in enumerate(VGG16_BLOCKS, start=1):
            for i, channels in enumerate(widths, start=1):
                x = nn.relu(nn.Conv(scaled(channels, self.width), (3, 3), padding=1, name=f"conv{block}_{i}")(x))
                count += 1
                if count == self.frozen_convs:
                    x = jax.lax.stop_gradient(x)
            if block < len(VGG16_BLOCKS):
                x = nn.max_pool(x, (2, 2), strides=(2, 2))
        return x


class ResNetFPN(nn.Module):
    """ResNet C2-C5 (bottlenecks, group norm) with an FPN top-down path, returning its stride-16
    level P4: (N, H, W, C) -> (N, ceil(H/16), ceil(W/16), fpn_features).

    Group norm instead of batch norm: detection batches are a few images per device.
    stage_blocks (3, 4, 6, 3) is ResNet-50; width scales the stage channels.
    """

    stage_blocks: Sequence[int] = (3, 4, 6, 3)
    fpn_features: int = 256
    width: float = 1.0

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        s = ConvSettings(norm="group", kernel_init="he")
        x = s.norm_act(s.conv(scaled(64, self.width), 7, 2, stride=2, normalized=True)(x), False)
        x = nn.max_pool(x, (3, 3), strides=(2, 2), padding=[(1, 1), (1, 1)])
        stages = []
        for i, blocks in enumerate(self.stage_blocks):
            for b in range(blocks):
                x = Bottleneck(scaled(64 * 2**i, self.width), 2 if b == 0 and i > 0 else 1, s)(x, False)
            stages.append(x)
        laterals = [s.conv(self.fpn_features, 1, 2)(c) for c in stages[2:]]  # C4, C5
        p4 = laterals[0] + resize(laterals[1], laterals[0].shape[1:3], "nearest")
        return s.conv(self.fpn_features, 3, 2)(p4)
