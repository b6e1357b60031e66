"""Seed 003's original U-Net (Ronneberger et al. 2015) on the ISBI 2012 membranes, at its native tiling.

Exactly the paper's network (preset `ronneberger2015`: 23 unpadded 3x3 convolutions, no
normalisation, dropout 0.5 at the end of the contracting path, He initialisation, 31,030,658
parameters): input tiles of 572 x 572 pixels give 388 x 388 outputs; the 92 pixels of context it
consumes on each side are mirrored at the image's edges. Training cuts 572-pixel tiles whose 388
output window lies at a random place of each 512 x 512 section; inference tiles each section by
overlap-tile (2 x 2 tiles here) and puts the outputs together without seams. The paper's batch of
one large tile with SGD momentum 0.99, softmax with cross-entropy over the 2 classes, and its
augmentation (flips, rotations by 90 degrees, elastic deformation).

Differences, and why: the paper's per-pixel weight map (w0 = 10, sigma = 5 pixels, separating
touching cells) is not implemented (a weighted loss of its own issue); the learning rate (0.01) and
training length are not stated. Data and split as configs/isbi_membranes_unet.py.
"""

from jaxseg.config import load_config


def get_config():
    c = load_config("isbi_membranes_unet")  # the same data, split, classes and augmentation
    c.name = "isbi_ronneberger2015"
    c.data.batch_size = 1
    c.sampling.tile_size = 572
    c.model.name = "ronneberger2015"
    c.model.head = "softmax"
    c.model.num_classes = 2
    c.loss.name = "cross_entropy"
    c.optimizer.name = "sgd"
    c.optimizer.learning_rate = 0.01
    c.optimizer.momentum = 0.99
    c.optimizer.weight_decay = 0.0
    c.inference.batch_size = 4
    return c
