"""A U-Net for 2D and 3D inputs (channels last), the family every U-Net of the seeds comes from."""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxseg.models.layers import activation, normalization


class ConvBlock(nn.Module):
    """`convs` x (3^n convolution, normalisation, activation), same padding."""

    features: int
    convs: int = 2
    norm: str = "batch"
    act: str = "relu"
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        kernel = (3,) * (x.ndim - 2)
        for _ in range(self.convs):
            x = nn.Conv(self.features, kernel, padding="SAME", use_bias=self.norm == "none", dtype=self.dtype)(x)
            x = normalization(self.norm, train, self.dtype)(x)
            x = activation(self.act)(x)
        return x


class UNet(nn.Module):
    """Encoder-decoder with concatenated long skips; the spatial rank follows the input.

    Input (N, H, W, C) or (N, D, H, W, C) with every spatial size divisible by
    2^(len(features) - 1). Output: logits of the same spatial shape with `num_classes` channels.
    Downsampling is 2x max-pooling, upsampling a 2x transposed convolution.
    """

    features: Sequence[int] = (16, 32, 64, 128)
    num_classes: int = 2
    convs_per_level: int = 2
    norm: str = "batch"
    activation: str = "relu"
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        spatial = x.ndim - 2
        block = lambda f: ConvBlock(f, self.convs_per_level, self.norm, self.activation, self.dtype)  # noqa: E731
        skips = []
        for f in self.features[:-1]:
            x = block(f)(x, train)
            skips.append(x)
            x = nn.max_pool(x, (2,) * spatial, strides=(2,) * spatial)
        x = block(self.features[-1])(x, train)
        for f, skip in zip(reversed(self.features[:-1]), reversed(skips)):
            x = nn.ConvTranspose(f, (2,) * spatial, strides=(2,) * spatial, dtype=self.dtype)(x)
            x = jnp.concatenate([x, skip.astype(x.dtype)], axis=-1)
            x = block(f)(x, train)
        logits = nn.Conv(self.num_classes, (1,) * spatial, dtype=self.dtype)(x)
        return logits.astype(jnp.float32)
