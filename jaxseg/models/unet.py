"""The generic U-Net: one module, channels last, 2D or 3D by the rank of its input.

Every U-Net of the seeds is this module with other options (see `jaxseg.models.presets`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxseg.models.blocks import BLOCKS, SKIPS, UPSAMPLINGS, LevelBlock, Upsample, merge_skip
from jaxseg.models.initializers import INITIALIZERS
from jaxseg.models.layers import ACTIVATIONS, NORMS, PADDINGS, ConvSettings, resize

HEADS = ("softmax", "sigmoid")
DOWNSAMPLINGS = ("maxpool", "strided_conv")


class UNet(nn.Module):
    """Encoder-decoder with long skips: (N, *S, C_in) -> logits (N, *S_out, num_classes), float32.

    Level 0 works at full resolution; level l at 1/2^l; depth = len(features) - 1 downsamplings.
    With "same" padding S_out = S and every spatial size must be divisible by 2^depth; with "valid"
    padding S_out is smaller (572^2 -> 388^2 for the original U-Net) and the skips are centre-cropped.

    features: encoder widths per level. decoder_features: widths of the decoder levels 0..depth-1
    (default features[:-1]). convs_per_level: convolutions per encoder level (one number, or one
    per level); decoder_convs_per_level: per decoder level (default: the encoder level's count).
    For block="residual" these count residual units (see `LevelBlock`).
    down: maxpool (2^n) | strided_conv (the level's first conv has stride 2, symmetric padding);
    strided_features: the widths of those strided convs (seed 001's code only).
    up, up_kernel, up_halving, up_norm_act: see `Upsample`; its output has the skip's width.
    skip: concat | sum | none. dropout: rate at the end of the contracting path (needs a "dropout"
    rng in training). fusion (seed 001): 1x1 heads at 1/4, 1/2 and full resolution, each sum
    linearly upsampled and added to the next before the output.
    head: softmax | sigmoid: how losses and inference read the logits (the module returns logits).
    deep_supervision (nnU-Net): 1x1 heads on decoder levels 1..depth-1. Their float32 logits
    (1/2 resolution first) are sown, not returned: `apply(..., mutable=["intermediates"])` and
    `deep_supervision_outputs(updates)` give them to `jaxseg.losses.deep_supervision_loss`.
    dtype: compute dtype (bfloat16 for mixed precision); param_dtype: parameter dtype.
    remat: rematerialise each level's activations in the backward pass (less memory, more compute).
    """

    features: Sequence[int] = (16, 32, 64, 128)
    num_classes: int = 2
    head: str = "softmax"
    convs_per_level: int | Sequence[int] = 2
    decoder_convs_per_level: int | None = None
    block: str = "plain"
    down: str = "maxpool"
    strided_features: Sequence[int] | None = None
    up: str = "transposed"
    up_kernel: int = 2
    up_halving: bool = False
    up_norm_act: bool = False
    decoder_features: Sequence[int] | None = None
    skip: str = "concat"
    padding: str = "same"
    dilation: int = 1
    dropout: float = 0.0
    fusion: bool = False
    deep_supervision: bool = False
    norm: str = "batch"
    bn_momentum: float = 0.9
    activation: str = "relu"
    use_bias: bool | None = None
    kernel_init: str = "lecun"
    remat: bool = False
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32

    @property
    def depth(self) -> int:
        return len(self.features) - 1

    def encoder_convs(self) -> tuple[int, ...]:
        if isinstance(self.convs_per_level, int):
            return (self.convs_per_level,) * len(self.features)
        return tuple(self.convs_per_level)

    def decoder_convs(self) -> tuple[int, ...]:
        if self.decoder_convs_per_level is None:
            return self.encoder_convs()[:-1]
        return (self.decoder_convs_per_level,) * self.depth

    def output_size(self, size: int) -> int:
        """Output length along one spatial axis for an input of `size` voxels: `size` with same padding;
        with valid padding each 3^n convolution consumes 2 * dilation voxels, each pooling halves
        (572 -> 388 for the original U-Net). ValueError for an input the network cannot take."""
        if self.padding == "same":
            return size
        if (self.block, self.down) != ("plain", "maxpool"):
            raise ValueError("valid padding is defined for block='plain' with down='maxpool' (the original U-Net)")
        length, consumed = size, 2 * self.dilation
        for level, convs in enumerate(self.encoder_convs()):
            if level and length % 2:
                raise ValueError(f"input length {size} reaches level {level} with an odd length {length}")
            length = (length // 2 if level else length) - consumed * convs
            if length < 1:
                raise ValueError(f"input length {size} is too small: nothing is left at level {level}")
        for level in reversed(range(self.depth)):
            length = 2 * length - consumed * self.decoder_convs()[level]
            if length < 1:
                raise ValueError(f"input length {size} is too small: nothing is left at decoder level {level}")
        return length

    def conv_settings(self) -> ConvSettings:
        return ConvSettings(self.norm, self.bn_momentum, self.activation, self.padding, self.use_bias,
                            self.kernel_init, self.dtype, self.param_dtype)

    def check(self) -> None:
        """Raise ValueError naming the first impossible option."""
        choices = {"head": HEADS, "block": BLOCKS, "down": DOWNSAMPLINGS, "up": UPSAMPLINGS, "skip": SKIPS,
                   "padding": PADDINGS, "norm": NORMS, "activation": ACTIVATIONS, "kernel_init": INITIALIZERS}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"option '{name}' = {getattr(self, name)!r}: expected one of {', '.join(allowed)}")
        lengths = {"convs_per_level": (self.encoder_convs(), self.depth + 1),
                   "decoder_features": (self.decoder_features, self.depth),
                   "strided_features": (self.strided_features, self.depth)}
        for name, (value, length) in lengths.items():
            if value is not None and len(value) != length:
                raise ValueError(f"option '{name}' = {tuple(value)}: expected {length} entries for depth {self.depth}")
        problems = [
            (self.depth < 1, "'features' needs at least 2 levels"),
            (min(self.encoder_convs() + self.decoder_convs()) < 1, "every level needs at least one convolution"),
            (self.up_kernel not in (2, 3), "'up_kernel' must be 2 or 3"),
            (self.dilation < 1, "'dilation' must be >= 1"),
            (not 0 <= self.dropout < 1, "'dropout' must be in [0, 1)"),
            (self.fusion and self.padding == "valid", "'fusion' needs same padding"),
            (self.deep_supervision and self.depth < 2, "'deep_supervision' needs depth >= 2"),
            (self.strided_features is not None and (self.down, self.block) != ("strided_conv", "inblock_residual"),
             "'strided_features' needs down='strided_conv' and block='inblock_residual'"),
        ]
        for bad, message in problems:
            if bad:
                raise ValueError(f"options: {message}")

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        self.check()
        rank, s, size = x.ndim - 2, self.conv_settings(), x.shape[1:-1]
        level_block = nn.remat(LevelBlock, static_argnums=(2,)) if self.remat else LevelBlock
        skips = []
        for level, (width, convs) in enumerate(zip(self.features, self.encoder_convs())):
            stride, first = 1, None
            if level:
                if any(d % 2 for d in x.shape[1:-1]):
                    raise ValueError(f"UNet input {size} reaches level {level} with an odd size "
                                     f"{x.shape[1:-1]}: use sizes divisible by {2 ** self.depth}")
                if self.down == "maxpool":
                    x = nn.max_pool(x, (2,) * rank, strides=(2,) * rank)
                else:
                    stride = 2
                    first = self.strided_features[level - 1] if self.strided_features else None
            x = level_block(width, convs, self.block, s, stride, self.dilation, first,
                            name=f"encoder_{level}")(x, train)
            skips.append(x)
        if self.dropout:
            x = nn.Dropout(self.dropout, deterministic=not train)(x)
        decoded = {}
        widths = self.decoder_features or self.features[:-1]
        for level in reversed(range(self.depth)):
            x = Upsample(self.features[level], self.up, self.up_kernel, self.up_halving, self.up_norm_act, s,
                         name=f"up_{level}")(x, train)
            x = merge_skip(x, skips[level], self.skip)
            x = level_block(widths[level], self.decoder_convs()[level], self.block, s, 1, self.dilation,
                            name=f"decoder_{level}")(x, train)
            decoded[level] = x

        heads: dict[int, jax.Array] = {}

        def head(level: int) -> jax.Array:  # One 1x1 head per level, shared by fusion and deep supervision.
            if level not in heads:
                conv = s.conv(self.num_classes, 1, rank, name=f"head_{level}")
                heads[level] = conv(decoded[level]).astype(jnp.float32)
            return heads[level]

        if self.fusion:
            coarsest = min(2, self.depth - 1)
            logits = head(coarsest)
            for level in range(coarsest - 1, -1, -1):
                logits = resize(logits, decoded[level].shape[1:-1], "linear") + head(level)
        else:
            logits = head(0)
        if self.deep_supervision:
            self.sow("intermediates", "deep_supervision", tuple(head(level) for level in range(1, self.depth)))
        return logits


def deep_supervision_outputs(updates: dict) -> list[jax.Array]:
    """The auxiliary logits of a UNet(deep_supervision=True), 1/2 resolution first.

    `updates` is the second result of `model.apply(variables, x, train=..., mutable=[..., "intermediates"])`.
    """
    return list(updates["intermediates"]["deep_supervision"][0])
