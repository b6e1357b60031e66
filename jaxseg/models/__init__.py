"""Pure Flax modules (channels last, 2D or 3D by the input's rank).

`build_model(config.model)` makes the configured network; `build_preset(name, **options)` one of the
named option sets in `PRESETS`. Every network returns float32 logits; its `head` attribute says
whether losses and inference read them with a softmax over classes or a sigmoid per channel.
"""

from jaxseg.models.baselines import Ciresan2012, ToyFCN
from jaxseg.models.build import build_model, build_preset, downsampling_factor, model_head, overlap_tile
from jaxseg.models.fpn import FPNSegmenter
from jaxseg.models.presets import PRESETS, level_widths
from jaxseg.models.receptive_field import receptive_field
from jaxseg.models.unet import UNet, deep_supervision_outputs

__all__ = [
    "PRESETS",
    "Ciresan2012",
    "FPNSegmenter",
    "ToyFCN",
    "UNet",
    "build_model",
    "build_preset",
    "deep_supervision_outputs",
    "downsampling_factor",
    "level_widths",
    "model_head",
    "overlap_tile",
    "receptive_field",
]
