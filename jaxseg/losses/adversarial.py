"""Seed 002's GAN objective for a segmenter and a mask discriminator (eqs. 3.1 and 3.2 of its thesis)."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp


def adversarial_loss(outputs: dict[str, jax.Array], labels: jax.Array,
                     segmentation_loss: Callable[[jax.Array, jax.Array], jax.Array], weight: float) -> jax.Array:
    """l_G + l_D as one scalar, from `AdversarialSegmenter.training_outputs`.

    l_G = l_seg(logits, labels) - weight * mean log D(G(x)) and l_D = -mean log D(y) - mean log(1 - D(G(x))),
    with D(.) = sigmoid of the discriminator's logit. The outputs route the gradients so that l_G
    reaches only the segmenter and l_D only the discriminator: the sum trains both, each on its own
    objective, in one backward pass.
    """
    segmentation = segmentation_loss(outputs["logits"], labels)
    generator = weight * jax.nn.softplus(-outputs["fake_for_segmenter"]).mean()  # -log sigmoid(d)
    discriminator = jax.nn.softplus(-outputs["real"]).mean() + jax.nn.softplus(outputs["fake"]).mean()
    return (segmentation + generator + discriminator).astype(jnp.float32)
