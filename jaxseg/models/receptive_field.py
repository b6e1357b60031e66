"""Theoretical receptive fields: the side, in input pixels, of the region one output pixel depends on.

Computed from the layer sequence (Araujo et al., Distill 2019): a layer with kernel k applied at input
spacing j adds (k - 1) * j; a stride s multiplies j by s. A x2 upsampling halves j and adds one input
step per extra input an output pixel can read: 0 for nearest and kernel-2 transposed convolutions, 1 for
linear resizing and kernel-3 transposed convolutions. The network's field is the largest over its paths
(the deepest one in a U-Net). This is the field of seed 001's Eq. 7 and Table 7 (73 for its network).

It is exact for networks of pools, strided and transposed convolutions, and linear resizing followed
by a 3^n convolution (the tests measure the dependence on the networks themselves). After nearest-
neighbour resizing, or a resize followed by a kernel-2 convolution, some output pixels read a little
more, by where they sit on the coarse grids (77 input pixels for seed 001's network, less than one
coarsest step more): the recurrence does not follow grid phases. Normalisation statistics are not
counted: with instance or group norm every output also depends on the whole input through them.
"""

from __future__ import annotations

import flax.linen as nn

from jaxseg.models.baselines import Ciresan2012, ToyFCN
from jaxseg.models.unet import UNet


def receptive_field(model: nn.Module) -> int | None:
    """The receptive field of a jaxseg network, or None where it is not derived (the ResNet-FPN)."""
    if isinstance(model, UNet):
        return _unet_field(model)
    if isinstance(model, ToyFCN):
        return 1 + 2 * sum(model.dilations)
    if isinstance(model, Ciresan2012):
        return _chain_field([(4, 1), (2, 2), (5, 1), (2, 2), (4, 1), (2, 2), (4, 1), (2, 2), (3, 1)])
    return None


def _chain_field(layers: list[tuple[int, int]]) -> int:
    """Field of a chain of (kernel, stride) layers."""
    field, step = 1, 1
    for kernel, stride in layers:
        field += (kernel - 1) * step
        step *= stride
    return field


def _unet_field(model: UNet) -> int:
    field, step = 1, 1
    per_conv = 2 * model.dilation  # A stride-1 3^n level convolution, dilated.

    def level_convs(convs: int) -> int:
        return 1 + 2 * convs if model.block == "residual" else convs

    for level, convs in enumerate(model.encoder_convs()):
        n = level_convs(convs)
        if level:
            if model.down == "strided_conv":  # The level's first conv: kernel 3, stride 2, undilated.
                field, n = field + 2 * step, n - 1
            else:
                field += step  # 2^n max-pool.
            step *= 2
        field += n * per_conv * step
    fields = {}
    for level in reversed(range(model.depth)):
        reads_two = model.up == "linear" or (model.up == "transposed" and model.up_kernel == 3)
        field += step if reads_two else 0
        step //= 2
        if model.up != "transposed":
            field += (model.up_kernel - 1) * step  # The convolution after the resize.
        field += level_convs(model.decoder_convs()[level]) * per_conv * step
        fields[level] = field
    if not model.fusion:
        return field
    coarsest = min(2, model.depth - 1)
    fused = fields[coarsest]
    for level in range(coarsest - 1, -1, -1):
        fused = max(fused + 2 ** (level + 1), fields[level])  # Linear x2 resize of the coarser map.
    return fused
