"""Seed 003's baselines: the lecture's all-convolutional toy networks and Ciresan et al.'s patch classifier."""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp


class ToyFCN(nn.Module):
    """The lecture's toy segmenters: zero-pad by sum(dilations), then one unpadded 3^n conv with ReLU per
    dilation and a 1x1 head: (N, *S, C_in) -> logits (N, *S, num_classes), float32.

    dilations (1, 1, 1) is the plain network (receptive field 7), (1, 2, 4) the dilated one (15);
    both have 1,257 parameters with 8 features, 1 input channel and 1 class.
    """

    dilations: Sequence[int] = (1, 1, 1)
    features: int = 8
    num_classes: int = 1
    head: str = "sigmoid"

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        rank = x.ndim - 2
        margin = sum(self.dilations)  # Padding the input once, as the lecture's nn.ZeroPad2d does.
        x = jnp.pad(x, [(0, 0)] + [(margin, margin)] * rank + [(0, 0)])
        for d in self.dilations:
            x = nn.relu(nn.Conv(self.features, (3,) * rank, padding="VALID", kernel_dilation=(d,) * rank)(x))
        return nn.Conv(self.num_classes, (1,) * rank)(x).astype(jnp.float32)


class Ciresan2012(nn.Module):
    """Ciresan et al. (NIPS 2012) membrane classifier: a 95^2 patch -> logits for its centre pixel.

    conv4 48 -> pool2 -> conv5 48 -> pool2 -> conv4 48 -> pool2 -> conv4 48 -> pool2 -> FC 200 -> FC 2
    (feature maps 92, 46, 42, 21, 18, 9, 6, 3). The fully connected layers are a 3^n and a 1x1 conv,
    so (N, 95, 95, C) -> (N, 1, 1, num_classes) and a larger image gives a map of patch predictions
    with stride 16. Hidden units use tanh (the lecture does not name the activation; Ciresan et al.'s
    networks use a scaled tanh).
    """

    num_classes: int = 2
    head: str = "softmax"
    # Not a field: it predicts one pixel per 95^2 patch, not a label map of its input's size.
    patch_classifier = True

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        rank = x.ndim - 2
        for kernel in (4, 5, 4, 4):
            x = jnp.tanh(nn.Conv(48, (kernel,) * rank, padding="VALID")(x))
            x = nn.max_pool(x, (2,) * rank, strides=(2,) * rank)
        x = jnp.tanh(nn.Conv(200, (3,) * rank, padding="VALID")(x))
        return nn.Conv(self.num_classes, (1,) * rank)(x).astype(jnp.float32)
