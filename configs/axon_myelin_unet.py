"""Axon and myelin in SEM images of rat spinal cord (the AxonDeepSeg SEM sample) with seed 002's U-Net.

Not a seed task: a 3-class microscopy problem (0 background, 1 myelin, 2 axon) for the 2D U-Net of
the seeds (preset `unet2d_sigmoid`: padded 3x3 conv-BN-ReLU, concatenated skips,
transposed-convolution upsampling, 64-1024 channels) with a softmax head over the 3 classes, since
a pixel is one of them, and Dice + cross-entropy, as the membranes of ISBI 2012; Adam, learning rate
1e-3, weight decay 1e-4 (L2) as seed 002.

Data: 8 grey SEM images of 740-1540 pixels a side, 0.07-0.18 um per pixel (the BIDS sidecar
`NAME_SEM.json` beside each image; HD95 comes out in its unit). Masks are the combined maps
`labels/NAME_seg-axonmyelin-manual.png`: 0 background, 127 or 128 myelin, 255 axon; 9 stray pixels
of rat 2 (130, 233) go to the nearest class. Whole images are resized to 512 x 512 (about
0.2 um per pixel, myelin sheaths a few pixels thick); orientation carries no meaning in a
cross-section, so flips and 90-degree turns augment. 1 image validates and 2 are held out; the
seeded split (data.split_seed 0, configs/splits/) happens to take all three of rat 3's samples for
them, so the held-out images come from a rat that no training image comes from.

Data: set data.root to a folder laid out as axondeepseg_sem_axon_myelin (images/NAME.png with
NAME.json, labels/NAME_seg-axonmyelin-manual.png), for example
`--config.data.root=DATA/axondeepseg_sem_axon_myelin`; without it, prepare, train and evaluate stop
with "set data.root (...)".
"""

from jaxseg.config import base_config


def get_config():
    c = base_config()
    c.name = "axon_myelin_unet"
    c.data.source = "image_folders"
    c.layout.mask_suffix = "_seg-axonmyelin-manual"
    c.layout.label_values = ((0, 0), (127, 1), (128, 1), (255, 2))
    c.layout.unlisted_values = "nearest"
    c.layout.class_names = ("background", "myelin", "axon")
    c.data.num_val = 1
    c.data.num_test = 2
    c.data.normalize = "zscore"
    c.data.batch_size = 8
    c.prepare.slice_size = (512, 512)
    c.augment.flip_p = 0.5
    c.augment.rot90_p = 0.5
    c.model.name = "unet2d_sigmoid"
    c.model.head = "softmax"
    c.model.num_classes = 3
    c.model.in_channels = 1
    c.loss.name = "dice_ce"
    c.optimizer.name = "adam"
    c.optimizer.learning_rate = 1e-3
    c.optimizer.weight_decay = 1e-4
    c.train.steps = 200
    c.train.log_every = 10
    c.train.val_every = 20
    c.train.checkpoint_every = 20
    return c
