"""PyTorch counterparts of the seed networks, for side-by-side timing (benchmarks only; needs the
`bench` extra: torch, monai).

`TorchUNet` re-implements jaxseg's generic U-Net for the options the seed presets use, built from
the same resolved options (`jaxseg.models.build.network_options`), so both sides have the same
layers; `parameter_count` lets the comparison check that. nnU-Net's network is MONAI's DynUNet.
Arrays are (N, C, *S) here; the benchmark converts them to channels_last memory format.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from jaxseg.models.build import network_options


def _conv_cls(rank: int):
    return {2: nn.Conv2d, 3: nn.Conv3d}[rank]


def _norm(name: str, rank: int, channels: int) -> nn.Module:
    if name == "batch":
        return {2: nn.BatchNorm2d, 3: nn.BatchNorm3d}[rank](channels, eps=1e-5)
    if name == "instance":
        return {2: nn.InstanceNorm2d, 3: nn.InstanceNorm3d}[rank](channels, eps=1e-5, affine=True)
    if name == "group":
        return nn.GroupNorm(8, channels, eps=1e-5)
    return nn.Identity()


def _act(name: str, channels: int) -> nn.Module:
    return {"relu": lambda: nn.ReLU(inplace=True), "leaky_relu": lambda: nn.LeakyReLU(0.01, inplace=True),
            "prelu": lambda: nn.PReLU(channels, init=0.25)}[name]()


class _Settings:
    """jaxseg's ConvSettings: bias only where no normalisation follows, unless use_bias says."""

    def __init__(self, rank: int, norm: str, activation: str, use_bias: bool | None):
        self.rank, self.norm_name, self.activation, self.use_bias = rank, norm, activation, use_bias

    def bias(self, normalized: bool) -> bool:
        return (self.norm_name == "none" or not normalized) if self.use_bias is None else self.use_bias

    def conv(self, c_in: int, c_out: int, kernel: int, stride: int = 1, dilation: int = 1,
             normalized: bool = False) -> nn.Module:
        if kernel % 2:
            return _conv_cls(self.rank)(c_in, c_out, kernel, stride, padding=dilation * (kernel - 1) // 2,
                                        dilation=dilation, bias=self.bias(normalized))
        # Even kernel, "SAME": pad (0, 1) per axis as XLA does.
        pad = nn.ZeroPad3d((0, 1) * 3) if self.rank == 3 else nn.ZeroPad2d((0, 1, 0, 1))
        return nn.Sequential(pad, _conv_cls(self.rank)(c_in, c_out, kernel, stride, bias=self.bias(normalized)))

    def norm_act(self, channels: int) -> nn.Module:
        return nn.Sequential(_norm(self.norm_name, self.rank, channels), _act(self.activation, channels))


class LevelBlock(nn.Module):
    """jaxseg.models.blocks.LevelBlock: plain | residual | inblock_residual."""

    def __init__(self, s: _Settings, c_in: int, features: int, convs: int, block: str, stride: int = 1,
                 dilation: int = 1, first_features: int | None = None):
        super().__init__()
        self.block = block

        def conv(ci, co, first, normalized=True):
            return s.conv(ci, co, 3, stride if first else 1, 1 if first and stride > 1 else dilation, normalized)

        if block == "plain":
            layers, c = [], c_in
            for i in range(convs):
                layers += [conv(c, features, i == 0), s.norm_act(features)]
                c = features
            self.body = nn.Sequential(*layers)
        elif block == "residual":
            self.entry = conv(c_in, features, True, normalized=False)
            self.units = nn.ModuleList(nn.Sequential(s.norm_act(features), conv(features, features, False),
                                                     s.norm_act(features), conv(features, features, False))
                                       for _ in range(convs))
            self.after = nn.ModuleList(s.norm_act(features) for _ in range(convs))
        elif block == "inblock_residual":
            first = first_features or features
            self.first = conv(c_in, first, True)
            layers, c = [], first
            for _ in range(convs - 1):
                layers += [s.norm_act(c), conv(c, features, False)]
                c = features
            self.rest, self.pad = nn.Sequential(*layers), features - first if convs > 1 else 0
            self.out = s.norm_act(c)
        else:
            raise ValueError(block)

    def forward(self, x):
        if self.block == "plain":
            return self.body(x)
        if self.block == "residual":
            x = self.entry(x)
            for unit, after in zip(self.units, self.after):
                x = after(unit(x) + x)
            return x
        first = self.first(x)
        h = self.rest(first)
        if len(self.rest):
            h = h + F.pad(first, (0,) * (2 * (first.ndim - 2)) + (0, self.pad))
        return self.out(h)


class Upsample(nn.Module):
    """jaxseg.models.blocks.Upsample: optional 1x1 halving, transposed conv or resize + conv."""

    def __init__(self, s: _Settings, c_in: int, features: int, mode: str, kernel: int, halving: bool, norm_act: bool):
        super().__init__()
        layers = []
        if halving:
            layers.append(s.conv(c_in, c_in // 2, 1, normalized=norm_act))
            if norm_act:
                layers.append(s.norm_act(c_in // 2))
            c_in //= 2
        self.pre, self.mode = nn.Sequential(*layers), mode
        if mode == "transposed":
            cls = {2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}[s.rank]
            pad = {} if kernel == 2 else {"padding": 1, "output_padding": 1}
            self.conv = cls(c_in, features, kernel, 2, bias=s.bias(norm_act), **pad)
        else:
            self.conv = s.conv(c_in, features, kernel, normalized=norm_act)
        self.post = s.norm_act(features) if norm_act else nn.Identity()

    def forward(self, x):
        x = self.pre(x)
        if self.mode != "transposed":
            x = F.interpolate(x, scale_factor=2, mode="nearest" if self.mode == "nearest" else
                              {2: "bilinear", 3: "trilinear"}[x.ndim - 2], **({} if self.mode == "nearest" else
                                                                              {"align_corners": False}))
        return self.post(self.conv(x))


class TorchUNet(nn.Module):
    """jaxseg.models.UNet's forward pass for the options of jaxseg's U-Net presets (no dropout, valid
    padding or dilation variants); deep-supervision heads are left out (jaxseg's loss does not read
    them, so XLA removes them from the train step)."""

    def __init__(self, rank: int, in_channels: int, features, num_classes: int, convs_per_level=2,
                 decoder_convs_per_level=None, block="plain", down="maxpool", strided_features=None,
                 up="transposed", up_kernel=2, up_halving=False, up_norm_act=False, decoder_features=None,
                 skip="concat", fusion=False, norm="batch", activation="relu", use_bias=None, **_ignored):
        super().__init__()
        s = _Settings(rank, norm, activation, use_bias)
        depth = len(features) - 1
        enc = (convs_per_level,) * (depth + 1) if isinstance(convs_per_level, int) else tuple(convs_per_level)
        dec = enc[:-1] if decoder_convs_per_level is None else (decoder_convs_per_level,) * depth
        widths = decoder_features or features[:-1]
        self.down, self.skip, self.fusion, self.rank = down, skip, fusion, rank
        self.encoders, c = nn.ModuleList(), in_channels
        for level, (width, convs) in enumerate(zip(features, enc)):
            stride = 2 if level and down == "strided_conv" else 1
            first = strided_features[level - 1] if level and strided_features else None
            self.encoders.append(LevelBlock(s, c, width, convs, block, stride, first_features=first))
            c = width
        self.ups, self.decoders = nn.ModuleDict(), nn.ModuleDict()
        for level in reversed(range(depth)):
            self.ups[str(level)] = Upsample(s, c, features[level], up, up_kernel, up_halving, up_norm_act)
            merged = features[level] + (features[level] if skip == "concat" else 0)
            self.decoders[str(level)] = LevelBlock(s, merged, widths[level], dec[level], block)
            c = widths[level]
        self.coarsest = min(2, depth - 1) if fusion else 0
        self.heads = nn.ModuleDict({str(level): s.conv(widths[level], num_classes, 1)
                                    for level in range(self.coarsest + 1)})

    def forward(self, x):
        skips = []
        for level, encoder in enumerate(self.encoders):
            if level and self.down == "maxpool":
                x = F.max_pool2d(x, 2) if self.rank == 2 else F.max_pool3d(x, 2)
            x = encoder(x)
            skips.append(x)
        decoded = {}
        for level in reversed(range(len(self.encoders) - 1)):
            x = self.ups[str(level)](x)
            if self.skip == "concat":
                x = torch.cat([x, skips[level]], 1)
            elif self.skip == "sum":
                x = x + skips[level]
            x = self.decoders[str(level)](x)
            decoded[level] = x
        logits = self.heads[str(self.coarsest)](decoded[self.coarsest])
        for level in range(self.coarsest - 1, -1, -1):
            logits = (F.interpolate(logits, size=decoded[level].shape[2:], align_corners=False,
                                    mode={2: "bilinear", 3: "trilinear"}[self.rank])
                      + self.heads[str(level)](decoded[level]))
        return logits


def torch_network(preset: str, rank: int, in_channels: int, num_classes: int, **overrides) -> nn.Module:
    """The PyTorch network of a jaxseg preset: MONAI's DynUNet for nnunet_3d, else TorchUNet."""
    _, options = network_options(preset, num_classes=num_classes, **overrides)
    if preset == "nnunet_3d":
        from monai.networks.nets import DynUNet

        features = list(options["features"])
        return DynUNet(3, in_channels, num_classes, kernel_size=[3] * len(features),
                       strides=[1] + [2] * (len(features) - 1), upsample_kernel_size=[2] * (len(features) - 1),
                       filters=features, norm_name=("INSTANCE", {"affine": True}),
                       act_name=("leakyrelu", {"negative_slope": 0.01, "inplace": True}), deep_supervision=False)
    return TorchUNet(rank, in_channels, **options)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def dice_ce_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy + soft Dice over the foreground classes, as jaxseg's dice_ce (float32)."""
    logits = logits.float()
    probs = logits.softmax(1)
    onehot = F.one_hot(labels.long(), logits.shape[1]).movedim(-1, 1).float()
    axes = tuple(range(2, logits.ndim))
    dice = (2 * (probs * onehot).sum(axes) + 1e-5) / (probs.sum(axes) + onehot.sum(axes) + 1e-5)
    return F.cross_entropy(logits, labels.long()) + (1 - dice[:, 1:]).mean()
