"""The seed systems' training setups as benchmark cases, and the configs that run them.

Each case is a preset at the seed's batch and input size. Sigmoid-head presets (seeds 000, 002) are
benchmarked with a 2-class softmax head, the only head jaxseg trains (one more output channel of a
1x1 conv: a negligible cost). `reduced` shapes keep the layer structure (same depth and widths)
on inputs so small (about 1-5 GFLOP per step) that the whole suite runs on a shared 2-core CPU;
there fixed per-step overheads weigh much more than at the seed shapes.
"""

from __future__ import annotations

import dataclasses
import math

import ml_collections

from jaxseg.config import base_config, load_config, set_value, validate


@dataclasses.dataclass(frozen=True)
class SeedCase:
    preset: str
    batch: int
    spatial: tuple[int, ...]
    in_channels: int
    num_classes: int
    reduced_batch: int
    reduced_spatial: tuple[int, ...]
    source: str

    def shape(self, reduced: bool) -> tuple[int, tuple[int, ...]]:
        return (self.reduced_batch, self.reduced_spatial) if reduced else (self.batch, self.spatial)

    def voxels(self, reduced: bool) -> int:
        batch, spatial = self.shape(reduced)
        return batch * math.prod(spatial)


# Reduced batches are 2 where one sample leaves a 1-voxel bottleneck: PyTorch's batch norm needs two
# values per channel there (torch_compare.py), and equal shapes let it reuse the compiled jaxseg step.
CASES: dict[str, SeedCase] = {
    "pig_ct_2d": SeedCase("pig_ct_2d", 4, (512, 512), 1, 2, 2, (64, 64), "seed 000: transverse slices, batch 4"),
    "pig_ct_3d": SeedCase("pig_ct_3d", 2, (96, 96, 96), 1, 2, 2, (16, 16, 16), "seed 000: 96^3 blocks, batch 2"),
    "kayalibay": SeedCase("kayalibay_concat", 1, (160, 144, 128), 4, 5, 1, (32, 32, 16),
                          "seed 001: BRATS crop 160x144x128, 4 modalities, batch 1"),
    "propagation": SeedCase("propagation_unet", 4, (512, 512), 2, 2, 1, (32, 32),
                            "seed 004: slice + prior mask at 512^2 (batch not stated: 4)"),
    "nuclei": SeedCase("unet2d_sigmoid", 8, (256, 256), 1, 2, 2, (16, 16),
                       "seed 002: nuclei at 256^2 (batch not stated: 8)"),
    "lungs": SeedCase("unet2d_sigmoid", 8, (512, 512), 1, 2, 1, (32, 32), "seed 002: lungs, batch 8 at 512^2"),
    "nnunet_3d": SeedCase("nnunet_3d", 2, (128, 128, 128), 1, 2, 1, (32, 32, 32),
                          "nnU-Net-like 3D full resolution, 128^3, batch 2"),
}
# Seed 002's Faster R-CNN: VGG16 at 600^2, batch 1 (the seed's; jaxseg trains at batch > 1 too).
DETECTION_CASE = "faster_rcnn"


def detection_config(reduced: bool, batch: int = 1) -> ml_collections.ConfigDict:
    """configs/pneumonia_faster_rcnn.py at the seed's 600^2 canvas, or (reduced) 192^2 at quarter width."""
    size = 192 if reduced else 600
    overrides = [f"data.batch_size={batch}", f"detection.canvas=({size},{size})", f"detection.min_size={size}",
                 f"detection.max_size={size}"] + (["detection.width=0.25"] if reduced else [])
    return load_config("pneumonia_faster_rcnn", overrides)


def case_config(name: str, dtype: str = "float32", remat: bool = False, batch: int | None = None,
                **model: object) -> ml_collections.ConfigDict:
    """A validated config training case `name`'s preset with the given compute dtype and remat;
    `model` overrides further model keys (up="nearest", ...). batch: data.batch_size (default the seed's)."""
    case = CASES[name]
    config = base_config()
    config.name = f"bench_{name}"
    settings = {"model.name": case.preset, "model.in_channels": case.in_channels,
                "model.num_classes": case.num_classes, "model.dtype": dtype, "model.remat": remat,
                "data.batch_size": batch or case.batch, "optimizer.name": "adam", "loss.name": "dice_ce",
                **{f"model.{k}": v for k, v in model.items()}}
    if case.num_classes == 2 and case.preset in ("pig_ct_2d", "pig_ct_3d", "unet2d_sigmoid"):
        settings["model.head"] = "softmax"
    for key, value in settings.items():
        set_value(config, key, value)
    validate(config)
    return config
