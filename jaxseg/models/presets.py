"""Named option sets: every network of the seeds, each checked by its exact parameter count in the tests.

A preset is a network class, its options and the reference input (spatial sizes, channels) its numbers
are quoted for. U-Net presets give their widths as base_features, growth, depth and max_features, so a
config can change the depth of a preset (`features = min(max_features, base_features * growth^level)`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn

from jaxseg.models.baselines import Ciresan2012, ToyFCN
from jaxseg.models.fpn import FPNSegmenter
from jaxseg.models.unet import UNet

WIDTH_OPTIONS = ("base_features", "growth", "depth", "max_features")


@dataclasses.dataclass(frozen=True)
class Preset:
    network: type[nn.Module]
    options: dict[str, Any]
    input_shape: tuple[int, ...]  # (*spatial, channels) of the seed's numbers
    source: str


def level_widths(base_features: int, depth: int, growth: float = 2, max_features: int | None = None) -> tuple[int, ...]:
    """Widths of levels 0..depth: base_features * growth^level, capped at max_features."""
    widths = (round(base_features * growth**level) for level in range(depth + 1))
    return tuple(min(w, max_features) if max_features else w for w in widths)


# Seed 000 states no initialiser or batch-norm momentum: Keras 2.2's defaults (Glorot uniform, 0.99).
_PIG_CT = dict(block="residual", convs_per_level=2, up_kernel=3, use_bias=True, kernel_init="xavier",
               bn_momentum=0.99, num_classes=1, head="sigmoid", base_features=16)
_KAYALIBAY = dict(base_features=8, depth=3, convs_per_level=(1, 2, 2, 2), decoder_convs_per_level=1,
                  block="inblock_residual", down="strided_conv", strided_features=(8, 32, 64),
                  decoder_features=(16, 32, 64), up="nearest", up_kernel=3, up_halving=True, up_norm_act=True,
                  fusion=True, norm="batch", bn_momentum=0.5, activation="prelu", use_bias=False,
                  kernel_init="normal", num_classes=5)
# Seed 004 gives no widths: the original U-Net's 64-1024.
_PROPAGATION = dict(base_features=64, depth=4, kernel_init="xavier", use_bias=True, num_classes=2)
# nnU-Net's PlainConvUNet: each stage's first conv strides; He (Kaiming) initialisation.
_NNUNET = dict(base_features=32, convs_per_level=2, down="strided_conv", norm="instance", activation="leaky_relu",
               use_bias=True, kernel_init="he", deep_supervision=True, num_classes=2)

PRESETS: dict[str, Preset] = {
    "unet": Preset(UNet, dict(base_features=16, depth=3), (64, 64, 1),
                   "the generic U-Net's defaults (configs/demo.py)"),
    "ronneberger2015": Preset(UNet, dict(base_features=64, depth=4, padding="valid", norm="none", dropout=0.5,
                                         kernel_init="he", num_classes=2), (572, 572, 1),
                              "Ronneberger et al. 2015 (seed 003): 31,030,658 parameters, 572^2 -> 388^2"),
    # Seed 000 used transposed convs. Resize + conv has the same parameters; its gradients ran 2.6x
    # (2D, kernel 3, 128^2, 128->64 channels) and 2.6-2.8x (3D, 48^3, 64->32) faster on a CPU
    # (benchmarks/results/cpu/upsampling_seed_shapes.md; jax issue 31662). model.up=transposed
    # restores the seed's layer.
    "pig_ct_2d": Preset(UNet, dict(_PIG_CT, depth=6, up="nearest"), (512, 512, 1),
                        "seed 000 2D: 81,831,025 parameters + 36,480 batch-norm statistics"),
    "pig_ct_3d": Preset(UNet, dict(_PIG_CT, depth=4, up="nearest"), (96, 96, 96, 1), "seed 000 3D, 96^3 blocks"),
    "kayalibay_concat": Preset(UNet, dict(_KAYALIBAY, skip="concat"), (128, 128, 96, 4),
                               "seed 001 Table 7: 410,072 parameters (4 inputs), receptive field 73"),
    "kayalibay_sum": Preset(UNet, dict(_KAYALIBAY, skip="sum"), (128, 128, 96, 4),
                            "seed 001, summed long skips: 337,496 parameters (4 inputs)"),
    "unet2d_sigmoid": Preset(UNet, dict(base_features=64, depth=4, num_classes=1, head="sigmoid"), (512, 512, 1),
                             "seed 002: nuclei, lungs, fetal brain"),
    "propagation_unet": Preset(UNet, _PROPAGATION, (512, 512, 2), "seed 004: slice + prior mask, depth 2-5"),
    "propagation_resstrided": Preset(UNet, dict(_PROPAGATION, block="residual", convs_per_level=1,
                                                down="strided_conv"), (512, 512, 2),
                                     "seed 004's residual, strided-convolution variant"),
    "fpn_resnet": Preset(FPNSegmenter, {}, (512, 512, 1), "seed 002: ResNet-50 FPN segmenter"),
    "plain_rf7": Preset(ToyFCN, dict(dilations=(1, 1, 1)), (32, 32, 1), "seed 003 toy network: 1,257 parameters"),
    "dilated_rf15": Preset(ToyFCN, dict(dilations=(1, 2, 4)), (32, 32, 1),
                           "seed 003 dilated toy network: 1,257 parameters"),
    "ciresan2012": Preset(Ciresan2012, {}, (95, 95, 1), "seed 003: Ciresan et al. 2012 95^2 patch classifier"),
    # nnU-Net upsamples with kernel-2 transposed convs; in 3D nearest resize + 2^3 conv (same parameters)
    # ran 2.0x (fp32) and 2.2x (bf16) faster (48^3, 64->32 channels, CPU). In 2D the transposed conv
    # ran 3.4x faster: nnunet_2d keeps it.
    "nnunet_3d": Preset(UNet, dict(_NNUNET, depth=5, max_features=320, up="nearest"), (128, 128, 128, 1),
                        "nnU-Net-like 3D full-resolution defaults"),
    "nnunet_2d": Preset(UNet, dict(_NNUNET, depth=7, max_features=512), (512, 512, 1), "nnU-Net-like 2D defaults"),
}
