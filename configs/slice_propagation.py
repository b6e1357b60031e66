"""Seed 004: semi-automatic slice-by-slice segmentation by mask propagation.

A 2-channel U-Net segments axial slice t from [CT slice t, mask of slice t +- k, k <= 2] and is run
slice by slice outwards from one annotated slice (`jaxseg propagate`, `jaxseg evaluate`).

The seed's recipe: the original U-Net layout at depth 4 (2 x [3x3 conv, batch norm, ReLU] per level,
max-pool down, transposed-conv up, skip concatenation, 1x1 conv to 2 logits; Xavier weights, zero
biases; preset `propagation_unet`, widths 64-1024 since the seed gives none); softmax cross-entropy;
Adam 1e-4 divided by 10 at epochs 10, 20 and 25 of 30; HU clipped to [-1024, 1024], then / 500;
heavy augmentation of image, target and prior together (scale +-20 %, rotation +-180 degrees,
left/right and up/down flips, brightness and contrast, whose ranges the seed does not give: jaxseg's
defaults), then of the prior alone (rotation +-1 degree, scaling +-10 % about the slice centre, the
seed's best); 5-fold cross-validation over 20 volumes by subject (16 train, 4 test per fold).

Data: the seed's 20 VISCERAL whole-body CTs are not available here (not among the public samples), so
the default is 20 generated CT phantoms (jaxseg.data.synthetic, 64 x 64 x ~32 voxels of
6 x 6 x 8 mm). Their organs stand in for the seed's training organs: liver (1) for the liver,
spleen (2) for the spleen, kidney (3: both kidneys share the label) for the left kidney; the
phantoms have no lung or pancreas. The spine (4) is never trained on and can stand in for the
seed's unseen-organ test: `jaxseg evaluate ... --config.propagation.classes=(4,)`. For real
data set data.source = msd, data.root and sampling.pair_classes.

Deviation: one of the 16 training subjects of the fold validates (val_dice, the best checkpoint),
leaving 15 to train on; the seed trains on all 16 and keeps the last model (data.num_val = 0).

Epochs in steps: fold 0 of the default phantoms gives 653 pairs per epoch (15 cases, every slice
holding liver, spleen or kidney, once per organ), 40 full batches of 16: 30 epochs are 1200 steps,
the decays fall at steps 400, 800 and 1000. Other data or batch sizes change these numbers (the
training log prints the pairs per epoch).
"""

from jaxseg.config import base_config

STEPS_PER_EPOCH = 40


def get_config():
    c = base_config()
    c.name = "slice_propagation"
    c.seed = 0

    c.data.source = "phantom"
    c.phantom.num_cases = 20
    c.data.folds = 5
    c.data.fold = 0
    c.data.num_test = 0  # With folds the test split is fold data.fold.
    c.data.num_val = 1
    c.data.plane = "axial"
    c.data.normalize = "ct"
    c.data.clip_hu = (-1024.0, 1024.0)
    c.data.ct_divisor = 500.0
    c.task = "propagation"
    c.data.sampler = "pairs"
    c.data.batch_size = 16  # Not given by the seed.
    c.sampling.pair_classes = (1, 2, 3)  # liver, spleen, kidney
    c.sampling.pair_max_offset = 2

    c.augment.scale_p = 1.0
    c.augment.scale_range = (0.8, 1.2)
    c.augment.rotate_p = 1.0
    c.augment.rotate_deg = 180.0
    c.augment.flip_p = 0.5  # Per axis: left/right and up/down.
    c.augment.brightness_p = 0.5
    c.augment.contrast_p = 0.5
    c.augment.prior_rotate_deg = 1.0
    c.augment.prior_scale = 0.1

    c.model.name = "propagation_unet"
    c.model.in_channels = 2  # CT slice and prior mask.
    c.model.num_classes = 2  # Background and the object the prior points at.
    c.loss.name = "cross_entropy"

    c.optimizer.name = "adam"
    c.optimizer.learning_rate = 1e-4
    c.optimizer.schedule = "piecewise"
    c.optimizer.boundaries = (10 * STEPS_PER_EPOCH, 20 * STEPS_PER_EPOCH, 25 * STEPS_PER_EPOCH)
    c.optimizer.decay_factor = 0.1
    c.train.steps = 30 * STEPS_PER_EPOCH
    c.train.log_every = STEPS_PER_EPOCH
    c.train.val_every = 5 * STEPS_PER_EPOCH
    c.train.checkpoint_every = 5 * STEPS_PER_EPOCH
    return c
