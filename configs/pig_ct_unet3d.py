"""Seed 000, 3D: residual U-Net (depth 4, base 16) on random 96^3 blocks of CT scans.

Blocks at random locations, batch 2, 50 per training scan per epoch; inference on non-overlapping
96^3 tiles put back in place without blending (the seed's protocol; its seams are visible, and the
seed itself proposes overlapping blocks with blending: `--config.inference.overlap=0.5
--config.inference.blend=gaussian`). Per-scan IoU 0.778 in the seed, well below the 2D planes.
DATA: as configs/pig_ct_unet2d.py (binary label, CT in HU).

Exactly the seed, as the 2D config: one sigmoid output with class-weighted BCE (1/f, 1/(1-f) from
the training voxels), RMSprop, batch 2 of 96^3 blocks. Differences: upsampling by resize + conv
(same parameters); RMSprop's 1e-3 and the training length are assumptions.
"""

from jaxseg.config import load_config


def get_config():
    c = load_config("pig_ct_unet2d")  # the same data, loss and optimiser
    c.name = "pig_ct_unet3d"
    c.data.sampler = "blocks"
    c.data.batch_size = 2
    c.sampling.block_shape = (96, 96, 96)
    c.sampling.blocks_per_case = 50
    c.sampling.foreground_fraction = 0.0  # random locations, as the seed
    c.model.name = "pig_ct_3d"
    c.inference.mode = "sliding_window"
    c.inference.roi_size = (96, 96, 96)
    c.inference.overlap = 0.0
    c.inference.blend = "constant"
    c.inference.batch_size = 2
    return c
