"""Seed 002's lung U-Net on chest radiographs (the Hannover COVID-19 images with V7 lung masks).

The recipe (seed 002 §3-4): the seed's 2D U-Net (preset `unet2d_sigmoid`: padded 3x3 conv-BN-ReLU,
concatenated skips, transposed-convolution upsampling, 64-1024 channels), one grey channel,
images resized to 512 x 512; BCE; Adam, learning rate 1e-3, weight decay 1e-4 (L2 on the
gradient, as PyTorch's Adam); batch 8 (two cards of 4); the seed reaches IoU about 0.9.

Exactly the seed: the network with its one sigmoid output (31,036,481 parameters), BCE, Adam
with L2 1e-4, batch 8, 512 x 512 inputs.

Differences, and why:
- The seed's 1000 RSNA radiographs with the author's own masks are not available: the data are
  the 20 Hannover radiographs of the cxr_lung_covid_hannover sample folder.
  Mask value 255 is lung; 127 is V7's "Ignore" (devices or markup over the image, 2 images) and is
  taken as background, as torchxrayvision reads these masks (lungs = 255): the training losses
  have no ignore label, and a third class would be learnt from two images.
- The seed splits 800 / 200 (train / validation) and keeps no test set; with 20 images, 2
  validate and 2 are held out for `jaxseg evaluate`. Epochs are not stated: 100 epochs of 16
  images at batch 8.
- Intensities are z-scored per image (the seed does not say how it scaled its radiographs).

Data: set data.root to a folder laid out as cxr_lung_covid_hannover (images/NAME.jpg, masks/NAME.png),
for example `--config.data.root=DATA/cxr_lung_covid_hannover`; without it, prepare, train
and evaluate stop with "set data.root (...)".
"""

from jaxseg.config import base_config


def get_config():
    c = base_config()
    c.name = "cxr_lungs_unet"
    c.data.source = "image_folders"
    c.layout.mask_dir = "masks"
    c.layout.label_values = ((0, 0), (127, 0), (255, 1))
    c.layout.class_names = ("background", "lung")
    c.data.num_val = 2
    c.data.num_test = 2
    c.data.normalize = "zscore"
    c.data.batch_size = 8
    c.prepare.slice_size = (512, 512)
    c.model.name = "unet2d_sigmoid"
    c.model.head = "sigmoid"
    c.model.num_classes = 2
    c.model.in_channels = 1
    c.loss.name = "bce"
    c.optimizer.name = "adam"
    c.optimizer.learning_rate = 1e-3
    c.optimizer.weight_decay = 1e-4
    c.train.steps = 200
    c.train.log_every = 10
    c.train.val_every = 20
    c.train.checkpoint_every = 20
    return c
