"""2D configuration planned from a dataset by `jaxseg plan --dataset demo --budget 8GiB --out configs/phantom_auto`.

Fingerprint: phantom-d6ec1fd3078b/fingerprint.json in the prepared cache. Budget 8.00 GiB per device.
Target spacing (6, 6, 8) mm, median shape after resampling (64, 64, 32.5) voxels, patch (64, 64), batch 23.
Every decision is commented below with the numbers behind it (nnU-Net v2's rules; patch
and batch by XLA's memory analysis of this train step).
"""

from jaxseg.config import base_config


def get_config():
    c = base_config()
    c.name = 'phantom_auto_2d'
    c.data.source = 'phantom'
    # labels {'0': 'background', '1': 'liver', '2': 'spleen', '3': 'kidney', '4': 'spine'}
    c.model.num_classes = 5
    # channels ['CT']
    c.model.in_channels = 1
    # median spacing (6, 6, 8) mm of 14 cases
    c.prepare.spacing_mm = (6.0, 6.0, 8.0)
    # nnU-Net: channel 0 'CT': CTNormalization; auto: ct for CT channels, else z-score
    c.data.normalize = 'auto'
    # foreground of channel 0: 0.5/99.5 percentiles -8.0/463.0, mean 107.8, std 112.4
    c.data.clip_hu = (-8.0, 463.0)
    # the foreground std (nnU-Net's CTNormalization)
    c.data.ct_divisor = 112.39
    # CT: the non-zero box is the whole scan (air is -1000 HU)
    c.prepare.crop = 'none'
    # nnU-Net: Dice + cross-entropy, weights 1 and 1
    c.loss.name = 'dice_ce'
    c.loss.include_background = False
    # nnU-Net: SGD, nesterov, momentum 0.99, lr 0.01, poly 0.9
    c.optimizer.name = 'sgd'
    c.optimizer.learning_rate = 0.01
    c.optimizer.momentum = 0.99
    c.optimizer.nesterov = True
    c.optimizer.schedule = 'poly'
    c.optimizer.weight_decay = 3e-05
    # nnU-Net clips the gradient norm at 12
    c.optimizer.grad_clip_norm = 12.0
    # nnU-Net: 1000 epochs of 250 iterations
    c.train.steps = 250000
    c.train.log_every = 250
    c.train.val_every = 2500
    c.train.checkpoint_every = 2500
    # nnU-Net picks the best checkpoint by an EMA of validation Dice
    c.train.best_metric_ema = 0.9
    # nnU-Net's recipe: rotation +-180 deg, scaling 0.7-1.4, noise, blur, brightness, contrast, gamma, mirroring
    # (elastic off, as in v2)
    c.augment.rotate_p = 0.2
    c.augment.rotate_deg = 180.0
    c.augment.scale_p = 0.2
    c.augment.scale_range = (0.7, 1.4)
    c.augment.noise_p = 0.1
    c.augment.noise_std = 0.1
    c.augment.blur_p = 0.2
    c.augment.blur_sigma = (0.5, 1.0)
    c.augment.brightness_p = 0.15
    c.augment.brightness_range = (0.75, 1.25)
    c.augment.contrast_p = 0.15
    c.augment.contrast_range = (0.75, 1.25)
    c.augment.gamma_p = 0.3
    c.augment.gamma_range = (0.7, 1.5)
    c.augment.flip_p = 0.5
    # nnU-Net mirrors along every axis at test time
    c.inference.mirror_axes = (0, 1)
    c.inference.overlap = 0.5
    c.inference.blend = 'gaussian'
    # nnU-Net's PlainConvUNet: 2 convs 3x3(x3) per level, instance norm, leaky ReLU, strided-conv downsampling, deep
    # supervision
    c.model.name = 'nnunet_2d'
    # nnU-Net's pools per axis (4, 4) (bottleneck edge >= 4); jaxseg pools all axes at each level: the fewest
    c.model.depth = 4
    c.model.deep_supervision = True
    # doubling per level to (32, 64, 128, 256, 512)
    c.model.base_features = 32
    # nnU-Net's cap in 2D
    c.model.max_features = 512
    c.data.sampler = 'slices'
    # slices normal to the coarsest axis (z)
    c.data.plane = 'axial'
    # XLA memory analysis on cpu (cpu), budget 8.00 GiB: patches at batch 2: (64, 64) -> 0.15 GiB; batch 23 peaks at
    # 0.46 GiB; batch limited by 5% of the dataset's voxels (cap 23); whole slices padded to (64, 64)
    c.data.batch_size = 23
    # nnU-Net: batch Dice in 2D
    c.loss.batch_dice = True
    c.inference.mode = 'slices'
    c.inference.batch_size = 23
    return c
