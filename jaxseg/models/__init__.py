"""Pure Flax modules (channels last). `build_model(config.model)` makes the configured network."""

from __future__ import annotations

import flax.linen as nn
import ml_collections

from jaxseg.models.unet import UNet


def build_model(model_config: ml_collections.ConfigDict) -> nn.Module:
    """The network described by a config's `model` section."""
    if model_config.name == "unet":
        return UNet(
            features=tuple(model_config.features),
            num_classes=model_config.num_classes,
            convs_per_level=model_config.convs_per_level,
            norm=model_config.norm,
            activation=model_config.activation,
        )
    raise ValueError(f"unknown model '{model_config.name}'")


def downsampling_factor(model_config: ml_collections.ConfigDict) -> int:
    """Every spatial input size must be a multiple of this."""
    return 2 ** (len(model_config.features) - 1)


__all__ = ["UNet", "build_model", "downsampling_factor"]
