"""Seed 001 on hand MRI: Kayalibay et al.'s 3D U-Net on whole volumes of one MR channel, 5 classes
(0 background, 1 metacarpal, 2 proximal, 3 middle, 4 distal phalanges).

DATA: a Decathlon/nnU-Net raw folder of hand MR volumes (the seed's 30 volumes are not public).
The seed downsamples its 480 x 480 x 280 volumes by 4 per axis and crops z to 120 x 120 x 64: set
`prepare.spacing_mm` to 4x your scans' spacing (e.g. --config.prepare.spacing_mm=(2.0,2.0,2.0))
and crop to the hand (`prepare.crop=body` keeps non-zero voxels).
Recipe as configs/kayalibay_brats.py (summed Tanimoto loss with the background, Adam 5e-5,
flips/rotations, whole volumes at batch 1); the seed split 20/5/5, and ran 600 epochs
(12,000 iterations).
"""

from jaxseg.config import load_config


def get_config():
    c = load_config("kayalibay_brats")  # the same recipe; the data differ
    c.name = "kayalibay_hand"
    c.data.folds = 0
    c.data.num_val = 5
    c.data.num_test = 5
    c.prepare.spacing_mm = ()
    c.model.in_channels = 1
    c.train.steps = 12000
    c.train.val_every = 1000
    c.train.checkpoint_every = 1000
    c.inference.roi_size = (120, 120, 64)
    return c
