"""Seed 002's U-Net + GAN: a segmenter and a discriminator that tells reference masks from predicted ones.

The pair is one Flax module, so the train state holds both networks' parameters side by side
({"segmenter": ..., "discriminator": ...}) and the training loop needs no special case: called
normally it is the segmenter (inference, validation, evaluation); `training_outputs` adds the
discriminator's verdicts that `jaxseg.losses.adversarial_loss` turns into one scalar whose
gradient trains each network on its own objective.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp


class MaskDiscriminator(nn.Module):
    """(image (N, *S, C), foreground masks (N, *S, K)) -> realness logit (N,), float32.

    Stride-2 3x3 convolutions with leaky ReLU (no normalisation: its statistics would differ
    between the real and the predicted batch), global average pooling and a linear output.
    """

    features: Sequence[int] = (16, 32, 64, 128)

    @nn.compact
    def __call__(self, image: jax.Array, masks: jax.Array) -> jax.Array:
        x = jnp.concatenate([image, masks.astype(image.dtype)], axis=-1)
        rank = x.ndim - 2
        for width in self.features:
            x = nn.Conv(width, (3,) * rank, strides=(2,) * rank)(x)
            x = nn.leaky_relu(x, 0.2)
        return nn.Dense(1)(x.mean(axis=tuple(range(1, rank + 1))))[:, 0].astype(jnp.float32)


def binarised_foreground(logits: jax.Array) -> jax.Array:
    """(N, *S, C) logits -> (N, *S, C - 1) one-hot of the arg-max, foreground classes only.

    Binary in the forward pass (the seed: soft masks make the discriminator's job trivial), with
    the softmax's gradient in the backward pass (straight-through), so the segmenter still learns
    from the discriminator.
    """
    probabilities = jax.nn.softmax(logits, axis=-1)
    hard = jax.nn.one_hot(jnp.argmax(logits, axis=-1), logits.shape[-1], dtype=probabilities.dtype)
    return (probabilities + jax.lax.stop_gradient(hard - probabilities))[..., 1:]


class AdversarialSegmenter(nn.Module):
    """A segmenter (any module mapping (N, *S, C_in) to logits) with a `MaskDiscriminator` beside it."""

    segmenter: nn.Module
    discriminator: nn.Module

    @property
    def head(self) -> str:
        return self.segmenter.head

    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        logits = self.segmenter(x, train=train)
        if self.is_initializing():  # `init` goes through here: create the discriminator's parameters too.
            self.discriminator(x, jnp.zeros((*logits.shape[:-1], logits.shape[-1] - 1), x.dtype))
        return logits

    def training_outputs(self, x: jax.Array, labels: jax.Array, train: bool = True) -> dict[str, jax.Array]:
        """{"logits": (N, *S, C), "real", "fake", "fake_for_segmenter": (N,) discriminator logits}.

        real: on the reference masks; fake: on the predicted masks with the segmenter's gradient
        stopped (the discriminator's objective); fake_for_segmenter: on the predicted masks with the
        discriminator's parameters held fixed (the segmenter's objective).
        """
        logits = self.segmenter(x, train=train)
        num_classes = logits.shape[-1]
        reference = jax.nn.one_hot(labels, num_classes, dtype=jnp.float32)[..., 1:]
        predicted = binarised_foreground(logits.astype(jnp.float32))
        real = self.discriminator(x, reference)
        fake = self.discriminator(x, jax.lax.stop_gradient(predicted))
        frozen = jax.lax.stop_gradient(self.discriminator.variables)
        fake_for_segmenter = self.discriminator.clone(parent=None).apply(frozen, x, predicted)
        return {"logits": logits, "real": real, "fake": fake, "fake_for_segmenter": fake_for_segmenter}
