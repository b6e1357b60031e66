"""`NetworkFacts`: what a run needs to know of its network, resolved once from the config's model
section and passed down (to the samplers, the state, the loss, the Predictor) instead of each of
them building the network again to ask."""

from __future__ import annotations

import dataclasses

import ml_collections

from jaxseg.models.build import downsampling_factor, model_head, overlap_tile


@dataclasses.dataclass(frozen=True)
class NetworkFacts:
    """pad_multiple: every spatial input size is a multiple of it (2^depth of a U-Net, 32 for FPN).
    tile: (tile_in, tile_out, alignment) of a valid-padding U-Net, pixels, else None.
    head: "softmax" over classes or "sigmoid" per foreground class.
    in_channels: input channels; num_classes: label classes, background included."""

    pad_multiple: int
    tile: tuple[int, int, int] | None
    head: str
    in_channels: int
    num_classes: int

    @classmethod
    def of(cls, config: ml_collections.ConfigDict) -> NetworkFacts:
        """The facts of `config.model` (with `sampling.tile_size` for valid-padding networks)."""
        model = config.model
        return cls(downsampling_factor(model), overlap_tile(model, config.sampling.tile_size), model_head(model),
                   model.in_channels, model.num_classes)
