"""Seed 000, 2D: residual U-Net (depth 6, base 16) on CT slices of one anatomical plane.

Train one network per plane and fuse their probabilities at evaluation (the seed's "combined",
its best result, per-scan IoU 0.962):
    jaxseg train --config configs/pig_ct_unet2d.py --workdir runs/axial --config.data.root=DATA
    jaxseg train --config configs/pig_ct_unet2d.py --workdir runs/coronal --config.data.root=DATA --config.data.plane=coronal
    jaxseg train --config configs/pig_ct_unet2d.py --workdir runs/sagittal --config.data.root=DATA --config.data.plane=sagittal
    jaxseg evaluate --workdir runs/axial --workdir runs/coronal --workdir runs/sagittal --out runs/combined
DATA: a Decathlon/nnU-Net raw folder of CT scans with a binary label (1 = edible tissue); the
seed's Norsvin pig scans are not public.

Where this differs from the seed, and why:
- One sigmoid output with class-weighted BCE becomes two softmax outputs with class-weighted
  cross-entropy (the same loss for a binary task); the weights are the seed's 1/(1-0.289) and
  1/0.289 from its mask fraction of 0.289.
- Slices are zero-padded to multiples of 64 (2^depth) as in the seed; sagittal and coronal slices of
  differing lengths are padded to the largest, so they batch by 4 like the transverse ones (the
  seed used batch 1 for them).
- The learning rate and training length are not stated in the seed: Keras' RMSprop default
  (1e-3, rho 0.9) and 20,000 steps are assumptions. Intensities: CT clipped to [-1000, 1000] HU
  and scaled to [-1, 1] (the seed does not say).
"""

from jaxseg.config import base_config


def get_config():
    c = base_config()
    c.name = "pig_ct_unet2d"
    c.data.source = "msd"
    c.data.plane = "axial"
    c.data.sampler = "slices"
    c.data.normalize = "ct"
    c.data.clip_hu = (-1000.0, 1000.0)
    c.data.batch_size = 4
    c.data.num_val = 2
    c.data.num_test = 0
    c.data.folds = 5
    c.model.name = "pig_ct_2d"
    c.model.head = "softmax"
    c.model.num_classes = 2
    c.loss.name = "cross_entropy"
    c.loss.class_weights = (1.406, 3.460)
    c.optimizer.name = "rmsprop"
    c.optimizer.learning_rate = 1e-3
    c.optimizer.momentum = 0.9  # RMSprop's rho
    c.train.steps = 20000
    c.train.log_every = 100
    c.train.val_every = 1000
    c.train.checkpoint_every = 1000
    c.train.best_metric = "iou"  # the seed reports per-scan IoU
    c.inference.mode = "slices"
    c.inference.batch_size = 8
    return c
