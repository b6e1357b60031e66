"""Neuronal membranes of the ISBI 2012 EM challenge with seed 002's U-Net recipe.

Not a seed task: ISBI 2012 is the data of the original U-Net (Ronneberger et al. 2015, seed 003),
trained here with seed 002's customised U-Net (preset `unet2d_sigmoid`: padded 3x3
conv-BN-ReLU, concatenated skips, transposed-convolution upsampling, 64-1024 channels; same
padding, so no tiling with overlap is needed) and its optimiser (Adam, learning rate 1e-3, weight
decay 1e-4 as L2), on the 512 x 512 sections at their own size. Augmentation follows Ronneberger:
flips, 90-degree rotations and elastic deformation, since 30 sections are few.

Classes: 1 = membrane (label pixel 0 in the challenge's files), 0 = cell interior (255); the
membrane, about 22 % of the pixels, is what the challenge segments and what Dice is reported on.
Loss: Dice + cross-entropy over a softmax head of the 2 classes. At equal steps it beat
cross-entropy alone (seed 002's BCE, as a softmax pair) on the held-out sections: membrane Dice
0.745 against 0.686, MONAI's BasicUNet with DiceCE 0.754 (benchmarks/accuracy.py --reduced,
benchmarks/results/accuracy/); `--config.loss.name=cross_entropy` trains with CE alone.
The 30 sections are consecutive slices of one stack: 3 validate and 3 are held out for `jaxseg
evaluate`, neighbours of training sections (the challenge's own test stack is not available).

Data: set data.root to a folder laid out as isbi2012_em_membrane (images/NN.png, labels/NN.png), for
example `--config.data.root=DATA/isbi2012_em_membrane`; without it, prepare, train and
evaluate stop with "set data.root (...)".
"""

from jaxseg.config import base_config


def get_config():
    c = base_config()
    c.name = "isbi_membranes_unet"
    c.data.source = "image_folders"
    c.layout.label_values = ((0, 1), (255, 0))
    c.layout.class_names = ("cell", "membrane")
    c.data.num_val = 3
    c.data.num_test = 3
    c.data.normalize = "zscore"
    c.data.batch_size = 8
    c.augment.flip_p = 0.5
    c.augment.rot90_p = 0.5
    c.augment.elastic_p = 0.5
    c.augment.elastic_sigma = 10.0
    c.augment.elastic_alpha = 4.0
    c.model.name = "unet2d_sigmoid"
    c.model.head = "softmax"
    c.model.num_classes = 2
    c.model.in_channels = 1
    c.loss.name = "dice_ce"
    c.optimizer.name = "adam"
    c.optimizer.learning_rate = 1e-3
    c.optimizer.weight_decay = 1e-4
    c.train.steps = 300
    c.train.log_every = 10
    c.train.val_every = 30
    c.train.checkpoint_every = 30
    return c
