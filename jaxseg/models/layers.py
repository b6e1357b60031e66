"""Layers chosen by name, shared by jaxseg's networks: activations, normalisations, initialisers, convolutions.

Every network option that names a layer ("prelu", "instance", "he", "same", ...) is resolved here, so
the U-Net family, the FPN and the baselines spell them the same way. Arrays are channels last.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxseg.core import exact_sum
from jaxseg.models import cpu_conv
from jaxseg.models.initializers import kernel_initializer

ACTIVATIONS = ("relu", "leaky_relu", "prelu")
NORMS = ("batch", "instance", "group", "none")
PADDINGS = ("same", "valid")


class ConvTranspose(nn.ConvTranspose):
    """`nn.ConvTranspose` (same parameters, names and results) whose kernel-2, stride-2 "VALID" form,
    the one that doubles every size, runs as `cpu_conv.conv_transpose_doubling` (on CPUs one matrix
    product, 2-90x faster than XLA's transposed convolution); other settings are Flax's own."""

    @nn.compact
    def __call__(self, inputs: jax.Array) -> jax.Array:
        rank = len(self.kernel_size)
        if (tuple(self.kernel_size) != (2,) * rank or tuple(self.strides or ()) != (2,) * rank
                or self.padding != "VALID" or self.kernel_dilation not in (None, 1, (1,) * rank)
                or self.transpose_kernel or self.mask is not None or inputs.ndim != rank + 2):
            return super().__call__(inputs)
        kernel = self.param("kernel", self.kernel_init, (*self.kernel_size, inputs.shape[-1], self.features),
                            self.param_dtype)
        bias = self.param("bias", self.bias_init, (self.features,), self.param_dtype) if self.use_bias else None
        inputs, kernel, bias = self.promote_dtype(inputs, kernel, bias, dtype=self.dtype)
        y = cpu_conv.conv_transpose_doubling(inputs, kernel, self.precision, self.preferred_element_type)
        return y if bias is None else y + bias


class BatchNorm(nn.BatchNorm):
    """`nn.BatchNorm` (same parameters, statistics and names) whose training statistics, inside
    `exact_sum.summing_across` (a train step split over devices by `shard_map`), are the means over
    every device's samples taken by `exact_sum.exact_pmean`; elsewhere Flax's own. Features on the last
    axis, with scale and bias (what `normalization` makes)."""

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        axis_name = exact_sum.active_axis()
        if axis_name is None or self.use_running_average or self.is_initializing():
            return super().__call__(x)
        features = (x.shape[-1],)
        running_mean = self.variable("batch_stats", "mean", jnp.zeros, features, jnp.float32)
        running_var = self.variable("batch_stats", "var", jnp.ones, features, jnp.float32)
        axes = tuple(range(x.ndim - 1))
        x32 = x.astype(jnp.promote_types(x.dtype, jnp.float32))
        # Each device holds as many samples, so the mean of their means is the batch's mean.
        mean, mean_square = exact_sum.exact_pmean((x32.mean(axes), (x32 * x32).mean(axes)), axis_name)
        var = jnp.maximum(0.0, mean_square - mean * mean)  # Flax's fast variance, clipped as Flax clips it.
        running_mean.value = self.momentum * running_mean.value + (1 - self.momentum) * mean
        running_var.value = self.momentum * running_var.value + (1 - self.momentum) * var
        scale = self.param("scale", self.scale_init, features, self.param_dtype)
        bias = self.param("bias", self.bias_init, features, self.param_dtype)
        y = (x32 - mean) * (jax.lax.rsqrt(var + self.epsilon) * scale) + bias
        return y.astype(self.dtype or jnp.result_type(x, scale, bias))


class PReLU(nn.Module):
    """max(0, x) + a * min(0, x) with a learned slope `a` per channel (He et al. 2015; init 0.25)."""

    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        slope = self.param("negative_slope", nn.initializers.constant(0.25), (x.shape[-1],), self.param_dtype)
        return jnp.where(x >= 0, x, slope.astype(x.dtype) * x)


def activation(name: str) -> Callable[[jax.Array], jax.Array]:
    """relu | leaky_relu (slope 0.01, as nnU-Net) | prelu (learned slope per channel)."""
    if name == "relu":
        return nn.relu
    if name == "leaky_relu":
        return lambda x: nn.leaky_relu(x, negative_slope=0.01)
    if name == "prelu":
        return PReLU()
    raise ValueError(f"unknown activation '{name}': expected one of {', '.join(ACTIVATIONS)}")


def normalization(name: str, train: bool, momentum: float, dtype: Any) -> Callable[[jax.Array], jax.Array]:
    """batch | instance | group (8 groups) | none.

    Batch norm keeps running statistics in the `batch_stats` collection, updated as
    `momentum * running + (1 - momentum) * batch` in training and used when `train` is False.
    """
    if name == "batch":
        return BatchNorm(use_running_average=not train, momentum=momentum, epsilon=1e-5, dtype=dtype)
    if name == "instance":
        return nn.InstanceNorm(epsilon=1e-5, dtype=dtype)
    if name == "group":
        return nn.GroupNorm(num_groups=8, epsilon=1e-5, dtype=dtype)
    if name == "none":
        return lambda x: x
    raise ValueError(f"unknown normalization '{name}': expected one of {', '.join(NORMS)}")


@dataclasses.dataclass(frozen=True)
class ConvSettings:
    """How every convolution of a network is made: padding, bias, initialiser, norm, activation, dtypes.

    use_bias: True or False for every convolution; None gives a bias exactly to the convolutions that
    no normalisation follows (a bias before a normalisation is cancelled by it).
    """

    norm: str = "batch"
    bn_momentum: float = 0.9
    activation: str = "relu"
    padding: str = "same"
    use_bias: bool | None = None
    kernel_init: str = "lecun"
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32

    def conv(self, features: int, kernel: int, rank: int, *, stride: int = 1, dilation: int = 1,
             normalized: bool = False, name: str | None = None) -> nn.Conv:
        """A `kernel`^rank convolution. With "same" padding odd kernels are padded symmetrically, so a
        stride-2 convolution samples the grid of seed 001 (input voxels 0, 2, 4, ...); Flax's "SAME"
        would pad (0, 1) and shift it."""
        if self.padding == "valid":
            padding: Any = "VALID"
        elif kernel % 2:
            padding = [(dilation * (kernel - 1) // 2,) * 2] * rank
        else:
            padding = "SAME"
        # CPU-only forms that XLA:CPU runs faster: 3D convolutions and small inputs (cpu_conv.py).
        return nn.Conv(features, (kernel,) * rank, strides=(stride,) * rank, padding=padding,
                       kernel_dilation=(dilation,) * rank, use_bias=self.bias(normalized),
                       kernel_init=kernel_initializer(self.kernel_init), dtype=self.dtype,
                       param_dtype=self.param_dtype, name=name,
                       conv_general_dilated=cpu_conv.conv_general_dilated)

    def conv_transpose(self, features: int, kernel: int, rank: int, *, normalized: bool = False) -> nn.ConvTranspose:
        """A stride-2 transposed convolution that exactly doubles every spatial size."""
        return ConvTranspose(features, (kernel,) * rank, strides=(2,) * rank,
                             padding="VALID" if kernel == 2 else "SAME", use_bias=self.bias(normalized),
                             kernel_init=kernel_initializer(self.kernel_init), dtype=self.dtype,
                             param_dtype=self.param_dtype)

    def bias(self, normalized: bool) -> bool:
        return (self.norm == "none" or not normalized) if self.use_bias is None else self.use_bias

    def norm_act(self, x: jax.Array, train: bool) -> jax.Array:
        """Normalisation then activation, the order of every seed."""
        x = normalization(self.norm, train, self.bn_momentum, self.dtype)(x)
        return activation(self.activation)(x)


def resize(x: jax.Array, spatial_shape: tuple[int, ...], method: str) -> jax.Array:
    """(N, *S, C) -> (N, *spatial_shape, C) by "nearest" or "linear" (bi/trilinear, half-pixel centres)."""
    return jax.image.resize(x, (x.shape[0], *spatial_shape, x.shape[-1]), method=method)
