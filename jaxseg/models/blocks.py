"""The pieces of a U-Net level: its convolution stack, the x2 upsampling step and the skip merge.

Every piece works on (N, *spatial, C) arrays of any spatial rank.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxseg.models.layers import ConvSettings, resize

BLOCKS = ("plain", "residual", "inblock_residual")
UPSAMPLINGS = ("transposed", "nearest", "linear")
SKIPS = ("concat", "sum", "none")


class LevelBlock(nn.Module):
    """The convolutions of one resolution level: (N, *S, C_in) -> (N, *S', features).

    block:
      plain            `convs` x (3^n conv, norm, act).
      residual         seed 000: an entry conv (no norm or activation), then `convs` residual units
                       norm-act-conv-norm-act-conv, plus the unit's input, then norm-act.
      inblock_residual seed 001's code: conv, then (norm-act-conv) x (convs - 1), plus the first
                       conv's output (its channels zero-padded), then norm-act.
    stride 2 makes the level's first convolution the downsampling one (nnU-Net, seed 001); its width
    is `first_features` (seed 001 only; default `features`). `dilation` applies to the stride-1 convs.
    """

    features: int
    convs: int
    block: str
    settings: ConvSettings
    stride: int = 1
    dilation: int = 1
    first_features: int | None = None

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        s, rank = self.settings, x.ndim - 2

        def conv(features: int, first: bool, normalized: bool = True) -> nn.Conv:
            if first and self.stride > 1:
                return s.conv(features, 3, rank, stride=self.stride, normalized=normalized)
            return s.conv(features, 3, rank, dilation=self.dilation, normalized=normalized)

        if self.block == "plain":
            for i in range(self.convs):
                x = s.norm_act(conv(self.features, first=i == 0)(x), train)
            return x
        if self.block == "residual":
            x = conv(self.features, first=True, normalized=False)(x)
            for _ in range(self.convs):
                h = conv(self.features, first=False)(s.norm_act(x, train))
                h = conv(self.features, first=False)(s.norm_act(h, train))
                x = s.norm_act(h + x, train)
            return x
        if self.block == "inblock_residual":
            first = conv(self.first_features or self.features, first=True)(x)
            h = first
            for _ in range(self.convs - 1):
                h = conv(self.features, first=False)(s.norm_act(h, train))
            if self.convs > 1:
                pad = [(0, 0)] * (first.ndim - 1) + [(0, h.shape[-1] - first.shape[-1])]
                h = h + jnp.pad(first, pad)
            return s.norm_act(h, train)
        raise ValueError(f"unknown block '{self.block}': expected one of {', '.join(BLOCKS)}")


class Upsample(nn.Module):
    """x2 upsampling of every spatial size: (N, *S, C) -> (N, *2S, features).

    mode: transposed (a stride-2 transposed conv with kernel `kernel`, 2 or 3) | nearest | linear
    (resize, then a `kernel`^n conv). Resize+conv has the parameters of the transposed conv and is
    the choice where 3D transposed-conv gradients are slow (jax issue 31662).
    halving: a 1x1 conv to C // 2 channels first (seed 001). norm_act: each of these convs is
    followed by normalisation and activation (seed 001); otherwise they are linear (U-Net, seed 000).
    """

    features: int
    mode: str
    kernel: int
    halving: bool
    norm_act: bool
    settings: ConvSettings

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        s, rank = self.settings, x.ndim - 2
        if self.halving:
            x = s.conv(x.shape[-1] // 2, 1, rank, normalized=self.norm_act)(x)
            x = s.norm_act(x, train) if self.norm_act else x
        if self.mode == "transposed":
            x = s.conv_transpose(self.features, self.kernel, rank, normalized=self.norm_act)(x)
        elif self.mode in ("nearest", "linear"):
            x = resize(x, tuple(2 * d for d in x.shape[1:-1]), self.mode)
            same = dataclasses.replace(s, padding="same")  # the step doubles sizes exactly in valid nets too
            x = same.conv(self.features, self.kernel, rank, normalized=self.norm_act)(x)
        else:
            raise ValueError(f"unknown upsampling '{self.mode}': expected one of {', '.join(UPSAMPLINGS)}")
        return s.norm_act(x, train) if self.norm_act else x


def center_crop(x: jax.Array, spatial_shape: Sequence[int]) -> jax.Array:
    """The centre (N, *spatial_shape, C) of x, as the original U-Net crops its skips for valid padding."""
    starts = [(have - want) // 2 for have, want in zip(x.shape[1:-1], spatial_shape)]
    index = (slice(None), *(slice(a, a + w) for a, w in zip(starts, spatial_shape)), slice(None))
    return x[index]


def merge_skip(up: jax.Array, skip: jax.Array, mode: str) -> jax.Array:
    """Join the upsampled path with the encoder's skip (cropped to its size): concat | sum | none."""
    if mode == "none":
        return up
    skip = center_crop(skip, up.shape[1:-1]).astype(up.dtype)
    if mode == "concat":
        return jnp.concatenate([up, skip], axis=-1)
    if mode == "sum":
        return up + skip
    raise ValueError(f"unknown skip '{mode}': expected one of {', '.join(SKIPS)}")
