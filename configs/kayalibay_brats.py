"""Seed 001 on BraTS: Kayalibay et al.'s 3D U-Net (concatenation skips, multi-scale map fusion)
trained on whole brain volumes, 5 classes (0 background, 1 necrosis, 2 oedema, 3 non-enhancing,
4 enhancing tumour), scored by the BraTS regions whole/core/enhancing in `jaxseg evaluate`.

DATA: a Decathlon-style folder whose dataset.json lists, per case, the channel files in the order
of its `modality` (BraTS ships one file per modality), for example
    {"labels": {"0": "background", "1": "necrosis", "2": "edema", "3": "non-enhancing", "4": "enhancing"},
     "modality": {"0": "FLAIR", "1": "T1", "2": "T1c", "3": "T2"},
     "training": [{"image": ["pat1/flair.nii.gz", "pat1/t1.nii.gz", "pat1/t1c.nii.gz", "pat1/t2.nii.gz"],
                   "label": "pat1/seg.nii.gz"}, ...]}
The sum-skip ablation is `--config.model.name=kayalibay_sum`.

As in the seed: whole volumes at batch 1, cropped to the brain and downsampled by 2 (2 mm voxels:
about 80 x 72 x 64, the seed's modality experiments), summed per-class Tanimoto (Jaccard) loss
including the background, Adam 5e-5 (b1 0.9, b2 0.999), N(0, 0.01) initialisation (the preset),
flips and rotations in a plane with labels moved one-hot, 5-fold cross-validation, best
checkpoint by validation Dice (the seed keeps the best validation loss).
Differences: the seed's one-of(identity, flip, rotation) per iteration is approximated by
independent flip and rotation probabilities; intensities are z-scored per channel inside the
crop (the seed used raw intensities); the crop is the box of non-zero voxels (the seed's is a
fixed 160 x 144 x 128 box around the FLAIR centroid).
"""

from jaxseg.config import base_config


def get_config():
    c = base_config()
    c.name = "kayalibay_brats"
    c.data.source = "msd"
    c.data.sampler = "volumes"
    c.data.normalize = "zscore"
    c.data.batch_size = 1
    c.data.folds = 5
    c.data.num_test = 0
    c.data.num_val = 10
    c.prepare.spacing_mm = (2.0, 2.0, 2.0)
    c.prepare.crop = "body"
    c.model.name = "kayalibay_concat"
    c.model.in_channels = 4
    c.model.num_classes = 5
    c.loss.name = "jaccard"
    c.loss.include_background = True
    c.optimizer.name = "adam"
    c.optimizer.learning_rate = 5e-5
    c.augment.flip_p = 1 / 3
    c.augment.rotate_p = 1 / 3
    c.augment.rotate_deg = 180.0
    c.augment.label_interpolation = "onehot"
    c.train.steps = 11000  # 50 epochs of 220 training volumes, as the seed
    c.train.log_every = 50
    c.train.val_every = 1100
    c.train.checkpoint_every = 1100
    c.inference.mode = "sliding_window"
    c.inference.roi_size = (96, 96, 64)
    c.inference.batch_size = 1
    return c
