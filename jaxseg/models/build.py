"""Networks from preset names and options, and from a config's `model` section."""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax.numpy as jnp
import ml_collections

from jaxseg.models.fpn import FPNSegmenter
from jaxseg.models.presets import PRESETS, WIDTH_OPTIONS, level_widths
from jaxseg.models.unet import HEADS, UNet

DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}
# Config keys that describe the data rather than the network.
_DATA_KEYS = ("name", "in_channels")


def network_options(name: str, **overrides: Any) -> tuple[type[nn.Module], dict[str, Any]]:
    """The network class of preset `name` and its options, with `overrides` applied.

    Width options (base_features, growth, depth, max_features) are merged with the preset's and turned
    into `features`; giving `features` too is an error. dtype may be a name ("bfloat16").
    Raises ValueError naming an unknown preset or an option the network does not have.
    """
    if name not in PRESETS:
        raise ValueError(f"unknown model '{name}': expected one of {', '.join(PRESETS)}")
    preset = PRESETS[name]
    known = {f.name for f in dataclasses.fields(preset.network)} - {"parent", "name"}
    if "base_features" in preset.options:  # A U-Net preset: its widths may be given either way.
        known |= set(WIDTH_OPTIONS)
    for key in overrides:
        if key not in known:
            raise ValueError(f"option '{key}' does not apply to model '{name}' ({preset.network.__name__})")
    if "features" in overrides and set(WIDTH_OPTIONS) & overrides.keys():
        raise ValueError(f"give either features or {', '.join(WIDTH_OPTIONS)}, not both")
    options = {**preset.options, **overrides}
    widths = {k: options.pop(k) for k in WIDTH_OPTIONS if k in options}
    if widths and "features" not in overrides:
        options["features"] = level_widths(**widths)
    if options.get("head", "softmax") not in HEADS:
        raise ValueError(f"option 'head' = {options['head']!r}: expected one of {', '.join(HEADS)}")
    if isinstance(options.get("dtype"), str):
        if options["dtype"] not in DTYPES:
            raise ValueError(f"option 'dtype' = {options['dtype']!r}: expected one of {', '.join(DTYPES)}")
        options["dtype"] = DTYPES[options["dtype"]]
    return preset.network, options


def build_preset(name: str, **overrides: Any) -> nn.Module:
    """The network of preset `name` (see jaxseg.models.PRESETS), options overridden by keyword."""
    network, options = network_options(name, **overrides)
    return network(**options)


def build_model(model_config: ml_collections.ConfigDict) -> nn.Module:
    """The network a config's `model` section describes: the preset `model.name`, then every network key
    the section sets (is not None).

    `model.num_classes` counts the classes of the label maps, background included; the network has
    that many outputs with a softmax head and one per foreground class (num_classes - 1) with a
    sigmoid head, as seed 000's single sigmoid output for a binary task.
    """
    options = {k: tuple(v) if isinstance(v, list) else v  # A config file may hold lists.
               for k, v in model_config.items() if k not in _DATA_KEYS and v is not None}
    if model_head(model_config) == "sigmoid":
        options["num_classes"] = model_config.num_classes - 1
    return build_preset(model_config.name, **options)


def model_head(model_config: ml_collections.ConfigDict) -> str:
    """"softmax" or "sigmoid": `model.head` when set, else the preset's (softmax for networks without one)."""
    if model_config.get("head") is not None:
        return model_config.head
    network, options = network_options(model_config.name)
    return options.get("head", getattr(network, "head", "softmax"))


def overlap_tile(model_config: ml_collections.ConfigDict, tile_size: int = 0) -> tuple[int, int, int] | None:
    """(tile_in, tile_out, alignment) of a valid-padding U-Net: its square input tile (`tile_size`,
    0: the preset's reference input), the output it gives, and 2^depth (tile starts are multiples of
    it); None with same padding. ValueError for a tile the network cannot take."""
    model = build_model(model_config)
    if getattr(model, "padding", "same") != "valid":
        return None
    tile_in = tile_size or PRESETS[model_config.name].input_shape[0]
    return tile_in, model.output_size(tile_in), 2**model.depth


def downsampling_factor(model_config: ml_collections.ConfigDict) -> int:
    """Every spatial input size must be a multiple of this."""
    model = build_model(model_config)
    if isinstance(model, UNet):
        return 2**model.depth
    return 32 if isinstance(model, FPNSegmenter) else 1
