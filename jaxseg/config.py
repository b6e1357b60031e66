"""Experiment configs: Python files whose `get_config()` returns an `ml_collections.ConfigDict`.

Every config starts from `base_config()`, which declares every key jaxseg knows with its type and
default, and is locked: a misspelt key in a config file or on the command line is an error, never a
silently ignored setting. `load_config(path, overrides)` loads a file, applies `a.b=value` overrides
and checks every value with `validate`, raising `ConfigError` that names the key.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import math
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import ml_collections

CONFIGS_DIR = Path(__file__).resolve().parent.parent / "configs"


class ConfigError(ValueError):
    """A config file or override that cannot be used; the message names the key or file."""


def _unset(field_type: type) -> ml_collections.FieldReference:
    """A key of `field_type` whose None value means "not set here"."""
    return ml_collections.FieldReference(None, field_type=field_type)


def base_config() -> ml_collections.ConfigDict:
    """Every key jaxseg understands, with its default. Config files change values, never add keys."""
    c = ml_collections.ConfigDict()
    c.name = "unnamed"
    c.seed = 0

    c.data = ml_collections.ConfigDict()
    # "msd": a Decathlon or nnU-Net raw folder at data.root; "phantom": generated; "image_folders",
    # "dsb2018", "dicom_folders": folder layouts without a dataset.json (see the `layout` section).
    c.data.source = "msd"
    c.data.root = ""  # For "phantom", empty means WORKDIR/phantom.
    c.data.num_val = 1  # Subjects taken from the labelled set for validation (best checkpoint).
    c.data.num_test = 3  # Subjects held out from training and validation for `evaluate` (0 with folds).
    c.data.split_seed = 0
    c.data.folds = 0  # k-fold cross-validation over subjects: the test split is fold `data.fold`.
    c.data.fold = 0
    c.data.plane = "axial"  # Anatomical plane of the 2D slices: axial | coronal | sagittal.
    c.data.normalize = "auto"  # auto (CT window for CT channels, else z-score) | ct | zscore | none.
    c.data.clip_hu = (-250.0, 450.0)  # CT window in HU; clipped values are centred on the window...
    c.data.ct_divisor = 0.0  # ...and divided by this (seed 004: 500); 0 means half the window -> [-1, 1].
    c.data.cache_dir = ""  # Prepared cache (`jaxseg prepare`); empty means WORKDIR/prepared.
    c.data.sampler = "slices"  # slices | blocks | volumes | pairs (see the `sampling` section).
    c.data.batch_size = 16  # Global batch (all devices, all hosts).
    c.data.workers = 0  # grain worker processes; 0 reads in the training process.

    c.prepare = ml_collections.ConfigDict()
    c.prepare.spacing_mm = ()  # Resample to this spacing (x, y, z); empty keeps each case's own.
    c.prepare.crop = "none"  # none | body (CT above -500 HU, other channels non-zero) | foreground.
    c.prepare.crop_margin_mm = 0.0  # Kept around the crop box.
    c.prepare.on_error = "skip"  # skip (log, count, go on) | fail: a case that cannot be read.
    c.prepare.locations_per_class = 10000  # Voxel positions stored per class for foreground sampling.
    # Resize every slice along data.plane to this in-plane size (its two RAS axes in order; a 2D
    # image: width, height), images linearly, labels per class; inference resizes alike and back.
    c.prepare.slice_size = ()

    c.sampling = ml_collections.ConfigDict()
    c.sampling.slice_shapes = "pad"  # slices, pairs: pad every slice to the largest | bucket by size.
    c.sampling.skip_empty_slices = False  # slices: leave out slices without foreground.
    c.sampling.block_shape = (96, 96, 96)  # blocks: voxels (x, y, z).
    c.sampling.blocks_per_case = 50  # blocks: draws per case per epoch (seed 000).
    c.sampling.foreground_fraction = 0.33  # blocks: share of blocks centred on foreground (nnU-Net).
    c.sampling.class_balanced = False  # blocks: foreground class drawn uniformly, not by volume.
    c.sampling.pair_classes = ()  # pairs: label values to propagate; empty means every foreground class.
    c.sampling.pair_max_offset = 2  # pairs: the prior is the label of slice t+k, 1 <= |k| <= this.

    c.augment = ml_collections.ConfigDict()
    c.augment.flip_p = 0.0  # Per spatial axis.
    c.augment.rot90_p = 0.0  # k x 90 degrees in a plane of two equally long axes.
    c.augment.rotate_p = 0.0
    c.augment.rotate_deg = 180.0  # Uniform in +-this, about each axis (one in 2D).
    c.augment.scale_p = 0.0
    c.augment.scale_range = (0.8, 1.2)  # Zoom factor (> 1 enlarges).
    c.augment.elastic_p = 0.0
    c.augment.elastic_sigma = 8.0  # Smoothness of the displacement field, voxels.
    c.augment.elastic_alpha = 2.0  # Displacement standard deviation, voxels.
    c.augment.label_interpolation = "nearest"  # nearest | onehot (linear per class, then argmax).
    c.augment.brightness_p = 0.0
    c.augment.brightness_range = (0.75, 1.25)  # Multiplicative.
    c.augment.contrast_p = 0.0
    c.augment.contrast_range = (0.75, 1.25)  # About the mean, value range kept.
    c.augment.gamma_p = 0.0
    c.augment.gamma_range = (0.7, 1.5)
    c.augment.noise_p = 0.0
    c.augment.noise_std = 0.1  # Gaussian noise, std uniform in [0, this].
    c.augment.blur_p = 0.0
    c.augment.blur_sigma = (0.5, 1.0)  # Gaussian blur, voxels.
    c.augment.prior_rotate_deg = 0.0  # pairs: prior-only rotation about the image centre (seed 004: 1)...
    c.augment.prior_scale = 0.0  # ...and scaling by 1 +- this (seed 004: 0.1), on top of the shared transform.

    c.phantom = ml_collections.ConfigDict()
    c.phantom.num_cases = 14
    c.phantom.shape = (64, 64, 32)  # Voxels (x, y, z) before per-case variation of z.
    c.phantom.spacing_mm = (6.0, 6.0, 8.0)
    c.phantom.seed = 0

    c.model = ml_collections.ConfigDict()
    c.model.name = "unet"  # A preset of jaxseg.models.PRESETS; the network keys below that are set override it.
    c.model.num_classes = 2  # Output channels: classes including background (softmax head), labels (sigmoid).
    c.model.in_channels = 1  # Image channels (plus one for a prior mask).
    # Network keys: None keeps the preset's value. Their meaning: jaxseg.models.UNet.
    c.model.features = _unset(tuple)  # Channels per level (depth = len - 1), or derived from the next four:
    c.model.base_features = _unset(int)  # features = min(max_features, base_features * growth^level)
    c.model.growth = _unset(float)
    c.model.depth = _unset(int)
    c.model.max_features = _unset(int)
    c.model.convs_per_level = _unset(object)  # One count, or one per encoder level.
    c.model.decoder_convs_per_level = _unset(int)
    c.model.block = _unset(str)  # plain | residual | inblock_residual
    c.model.norm = _unset(str)  # batch | instance | group | none
    c.model.bn_momentum = _unset(float)
    c.model.activation = _unset(str)  # relu | leaky_relu | prelu
    c.model.down = _unset(str)  # maxpool | strided_conv
    c.model.strided_features = _unset(tuple)
    c.model.up = _unset(str)  # transposed | nearest | linear
    c.model.up_kernel = _unset(int)  # 2 | 3
    c.model.up_halving = _unset(bool)
    c.model.up_norm_act = _unset(bool)
    c.model.decoder_features = _unset(tuple)
    c.model.skip = _unset(str)  # concat | sum | none
    c.model.padding = _unset(str)  # same | valid
    c.model.dilation = _unset(int)
    c.model.dropout = _unset(float)
    c.model.head = _unset(str)  # softmax | sigmoid
    c.model.fusion = _unset(bool)
    c.model.deep_supervision = _unset(bool)
    c.model.use_bias = _unset(bool)
    c.model.kernel_init = _unset(str)  # lecun | xavier | normal | he
    c.model.dtype = _unset(str)  # Compute dtype: float32 | bfloat16 (parameters stay float32).
    c.model.remat = _unset(bool)

    c.loss = ml_collections.ConfigDict()
    c.loss.name = "dice_ce"  # dice_ce | cross_entropy | dice | jaccard | focal
    c.loss.dice_weight = 1.0
    c.loss.ce_weight = 1.0
    c.loss.include_background = False  # Dice and Jaccard: count class 0 too.
    c.loss.class_weights = ()  # One weight per class for the CE term (and focal alpha); () = unweighted.
    c.loss.focal_gamma = 2.0

    c.optimizer = ml_collections.ConfigDict()
    c.optimizer.name = "adam"  # adam | adamw | sgd | rmsprop
    c.optimizer.learning_rate = 1e-3
    c.optimizer.schedule = "constant"  # constant | cosine | poly | piecewise
    c.optimizer.boundaries = ()  # piecewise: steps at which the rate is multiplied by decay_factor.
    c.optimizer.decay_factor = 0.1
    c.optimizer.warmup_steps = 0
    c.optimizer.weight_decay = 0.0  # adamw: decoupled; adam, sgd, rmsprop: L2 added to the gradient.
    c.optimizer.momentum = 0.9  # SGD momentum, or RMSprop's decay rho.
    c.optimizer.nesterov = False  # SGD only (nnU-Net: momentum 0.99, nesterov).
    c.optimizer.grad_clip_norm = 0.0  # 0 disables clipping.

    c.train = ml_collections.ConfigDict()
    c.train.steps = 1000
    c.train.log_every = 20
    c.train.checkpoint_every = 200
    c.train.val_every = 200
    c.train.keep_checkpoints = 1  # Latest checkpoints kept, besides the best one.
    c.train.grad_accum_steps = 1  # Micro-batches per optimiser step (data.batch_size is split).
    c.train.best_metric = "dice"  # dice | iou: validation mean over cases and foreground classes; picks the best.
    c.train.best_metric_ema = 0.0  # Choose by ema = a*ema + (1-a)*metric with a = this (nnU-Net: 0.9); 0: raw.

    c.mesh = ml_collections.ConfigDict()
    c.mesh.data = -1  # Devices on the data axis; -1 means all devices of all processes (over mesh.spatial).
    c.mesh.spatial = 1  # Devices splitting the first spatial axis of each sample (3D volumes too big for one).

    c.inference = ml_collections.ConfigDict()
    c.inference.mode = "slices"  # slices: whole 2D slices along data.plane; sliding_window: windows.
    c.inference.roi_size = ()  # sliding_window: window size; 2 axes for a 2D model (per slice), 3 for 3D.
    c.inference.overlap = 0.5  # Fraction of a window shared with the next (0.5: nnU-Net's step 0.5).
    c.inference.blend = "gaussian"  # gaussian | constant weighting of overlapping windows.
    c.inference.mirror_axes = ()  # Spatial axes to mirror for test-time augmentation, e.g. (0, 1).
    c.inference.largest_component = False  # Keep each class's largest connected component only.
    c.inference.fill_holes = False  # Fill background holes enclosed by a class.
    c.inference.batch_size = 32  # Slices or windows per forward pass.

    c.evaluate = ml_collections.ConfigDict()
    c.evaluate.overlay_cases = 3

    c.adversarial = ml_collections.ConfigDict()  # Seed 002's U-Net + GAN (jaxseg.models.adversarial).
    c.adversarial.enabled = False  # A discriminator judges (image, binarised mask) pairs beside the segmenter.
    c.adversarial.weight = 0.1  # lambda of the segmenter's adversarial term (not given in the seed).
    c.adversarial.features = (16, 32, 64, 128)  # Discriminator widths, one stride-2 conv each.
    c.adversarial.alternate_every = 0  # Steps per turn, discriminator first (seed: one epoch); 0: both every step.

    c.layout = ml_collections.ConfigDict()  # Files of data.source image_folders | dsb2018 | dicom_folders.
    c.layout.image_dir = "images"  # image_folders, dsb2018: the images' folder under data.root...
    c.layout.mask_dir = "labels"  # ...and the masks' folder; a mask is matched by the image's file name...
    c.layout.mask_suffix = ""  # ...plus this: images/NAME.jpg -> labels/NAME<suffix>.png (or .tif, ...).
    c.layout.label_values = ()  # image_folders: ((mask value, class), ...); () means mask values are classes.
    c.layout.unlisted_values = "error"  # error | nearest: a mask value not in label_values (stray pixels).
    c.layout.colour = "gray"  # 2D images: gray (colour by luminance) | rgb (grey repeated); alpha dropped.
    c.layout.nuclei_border = False  # dsb2018: class 2 marks each nucleus's outline (separates touching ones).
    c.layout.label_name = "label"  # dicom_folders: the label file in each series folder (.nii.gz, .nii, .nrrd, .dcm SEG).
    c.layout.class_names = ()  # Names of classes 0, 1, ... (image_folders, dicom_folders); () means generic names.
    # Slice propagation (data.sampler = "pairs", seed 004): validation, evaluation, `jaxseg propagate`.
    c.propagation = ml_collections.ConfigDict()
    c.propagation.classes = ()  # Label values validated and evaluated; empty: sampling.pair_classes, else all.
    c.propagation.stop_after_empty = 0  # Stop a direction after this many empty slices; 0: at the volume's end.
    c.propagation.correction_fractions = (0.5, 0.25, 0.2, 0.1)  # Simulated-correction steps after one-shot,
    # each a fraction of the organ's extent along data.plane (seed 004's figures: 0.1).
    # Detection: seed 002's Faster R-CNN (jaxseg.models.detection), trained when task = "detection".
    # data.root, data.num_val/num_test/split_seed, data.batch_size, model.num_classes (box classes + 1 for
    # the background), model.in_channels, optimizer and train apply to it; the other sections do not.
    c.task = "segmentation"  # segmentation | detection: which model, data, training loop and evaluation.
    c.detection = ml_collections.ConfigDict()
    c.detection.boxes_csv = ""  # Box CSV relative to data.root (layouts: jaxseg.io.read_box_csv).
    c.detection.image_dir = ""  # Image folder relative to data.root; ids without a suffix get .dcm/.png/.jpg/.jpeg.
    c.detection.classes = ()  # CSV box labels, in class order 1, 2, ...
    c.detection.max_boxes = 8  # Boxes per image in a batch (padded, with a valid mask); more is an error.
    c.detection.min_size = 600  # Resize: the shorter side to this many pixels...
    c.detection.max_size = 1000  # ...unless the longer side would exceed this.
    c.detection.canvas = ()  # (H, W) every image is fit into and padded to (static shapes); () = (max_size, max_size).
    c.detection.flip_p = 0.5  # Horizontal flip probability in training.
    c.detection.backbone = "vgg16"  # vgg16 | resnet_fpn (its P4 level), both at stride 16.
    c.detection.width = 1.0  # Backbone channel multiplier (1.0: VGG16's 64..512, ResNet-50's 64..2048).
    c.detection.frozen_convs = 4  # vgg16: the first convolutions are not trained (seed 002: 4).
    c.detection.backbone_weights = ""  # .npz of backbone parameters ("conv1_1/kernel", ...); empty: random init.
    c.detection.rpn_features = 512  # Channels of the RPN's 3x3 convolution.
    c.detection.fc_features = 4096  # Width of the head's fc6 and fc7.
    c.detection.anchor_scales = (128.0, 256.0, 512.0)  # Anchor sides in pixels (square root of the area).
    c.detection.anchor_ratios = (0.5, 1.0, 2.0)  # Anchor height / width.
    c.detection.rpn_pre_nms = (12000, 6000)  # Best-scored anchors decoded before NMS (training, test).
    c.detection.rpn_post_nms = (2000, 300)  # Proposals kept after NMS (training, test).
    c.detection.rpn_nms_iou = 0.7
    c.detection.rpn_samples = 256  # Anchors sampled per image for the RPN loss...
    c.detection.rpn_positive_fraction = 0.5  # ...at most this share positive...
    c.detection.rpn_iou = (0.3, 0.7)  # ...negatives below the first IoU, positives at or above the second.
    c.detection.roi_samples = 128  # RoIs sampled per image for the head loss...
    c.detection.roi_positive_fraction = 0.25  # ...at most this share foreground (py-faster-rcnn)...
    c.detection.roi_foreground_iou = 0.5  # ...foreground at or above this IoU...
    c.detection.roi_background_iou = (0.1, 0.5)  # ...background in [low, high).
    c.detection.roi_size = 7  # RoIAlign output grid.
    c.detection.sampling_ratio = 2  # RoIAlign samples per bin and axis; <= 0: adaptive (torchvision).
    c.detection.rpn_sigma = 3.0  # Smooth-L1 sigma of the RPN...
    c.detection.roi_sigma = 1.0  # ...and of the head.
    c.detection.score_threshold = 0.6  # Inference: class scores at or below are dropped (seed 002)...
    c.detection.nms_iou = 0.5  # ...per-class NMS at this IoU...
    c.detection.max_detections = 100  # ...keeping at most this many boxes per image.
    c.lock()
    return c


def _positive(v: Any) -> bool:
    return v > 0


def _non_negative(v: Any) -> bool:
    return v >= 0


def _one_of(*choices: str) -> Callable[[Any], bool]:
    def check(v: Any) -> bool:
        return v in choices

    check.__doc__ = f"one of {', '.join(choices)}"
    return check


_positive.__doc__ = "> 0"
_non_negative.__doc__ = ">= 0"

# key -> predicate on the value; the predicate's docstring says what is expected.
_RULES: dict[str, Callable[[Any], bool]] = {
    "data.source": _one_of("msd", "phantom", "image_folders", "dsb2018", "dicom_folders"),
    "data.num_val": _non_negative,
    "data.num_test": _non_negative,
    "data.folds": lambda v: v == 0 or v >= 2,
    "data.fold": _non_negative,
    "data.plane": _one_of("axial", "coronal", "sagittal"),
    "data.normalize": _one_of("auto", "ct", "zscore", "none"),
    "data.clip_hu": lambda v: len(v) == 2 and v[0] < v[1],
    "data.ct_divisor": _non_negative,
    "data.sampler": _one_of("slices", "blocks", "volumes", "pairs"),
    "data.batch_size": _positive,
    "data.workers": _non_negative,
    "prepare.spacing_mm": lambda v: len(v) in (0, 3) and all(s > 0 for s in v),
    "prepare.crop": _one_of("none", "body", "foreground"),
    "prepare.crop_margin_mm": _non_negative,
    "prepare.on_error": _one_of("skip", "fail"),
    "prepare.locations_per_class": _positive,
    "sampling.slice_shapes": _one_of("pad", "bucket"),
    "sampling.block_shape": lambda v: len(v) == 3 and all(s > 0 for s in v),
    "sampling.blocks_per_case": _positive,
    "sampling.foreground_fraction": lambda v: 0 <= v <= 1,
    "sampling.pair_classes": lambda v: all(isinstance(c, int) and c > 0 for c in v),
    "sampling.pair_max_offset": _positive,
    **{f"augment.{name}_p": lambda v: 0 <= v <= 1 for name in
       ("flip", "rot90", "rotate", "scale", "elastic", "brightness", "contrast", "gamma", "noise", "blur")},
    "augment.rotate_deg": lambda v: 0 <= v <= 180,
    "augment.scale_range": lambda v: len(v) == 2 and 0 < v[0] <= v[1],
    "augment.elastic_sigma": _positive,
    "augment.elastic_alpha": _non_negative,
    "augment.label_interpolation": _one_of("nearest", "onehot"),
    "augment.brightness_range": lambda v: len(v) == 2 and 0 < v[0] <= v[1],
    "augment.contrast_range": lambda v: len(v) == 2 and 0 < v[0] <= v[1],
    "augment.gamma_range": lambda v: len(v) == 2 and 0 < v[0] <= v[1],
    "augment.noise_std": _non_negative,
    "augment.blur_sigma": lambda v: len(v) == 2 and 0 < v[0] <= v[1],
    "augment.prior_rotate_deg": lambda v: 0 <= v <= 180,
    "augment.prior_scale": lambda v: 0 <= v < 1,
    "phantom.num_cases": _positive,
    "phantom.shape": lambda v: len(v) == 3 and all(s >= 16 for s in v),
    "phantom.spacing_mm": lambda v: len(v) == 3 and all(s > 0 for s in v),
    "model.num_classes": _positive,
    "model.in_channels": _positive,
    "model.features": lambda v: v is None or (len(v) >= 2 and all(f > 0 for f in v)),
    "loss.name": _one_of("dice_ce", "cross_entropy", "dice", "jaccard", "focal"),
    "loss.dice_weight": _non_negative,
    "loss.ce_weight": _non_negative,
    "loss.class_weights": lambda v: all(w > 0 for w in v),
    "loss.focal_gamma": _non_negative,
    "optimizer.name": _one_of("adam", "adamw", "sgd", "rmsprop"),
    "optimizer.learning_rate": _positive,
    "optimizer.schedule": _one_of("constant", "cosine", "poly", "piecewise"),
    "optimizer.boundaries": lambda v: all(b > 0 for b in v) and list(v) == sorted(set(v)),
    "optimizer.decay_factor": _positive,
    "optimizer.warmup_steps": _non_negative,
    "optimizer.weight_decay": _non_negative,
    "optimizer.momentum": lambda v: 0 <= v < 1,
    "optimizer.grad_clip_norm": _non_negative,
    "train.steps": _positive,
    "train.log_every": _positive,
    "train.checkpoint_every": _positive,
    "train.val_every": _positive,
    "train.keep_checkpoints": _positive,
    "train.grad_accum_steps": _positive,
    "train.best_metric": _one_of("dice", "iou"),
    "train.best_metric_ema": lambda v: 0 <= v < 1,
    "mesh.data": lambda v: v == -1 or v > 0,
    "mesh.spatial": _positive,
    "inference.mode": _one_of("slices", "sliding_window"),
    "inference.roi_size": lambda v: len(v) in (0, 2, 3) and all(r > 0 for r in v),
    "inference.overlap": lambda v: 0 <= v < 1,
    "inference.blend": _one_of("gaussian", "constant"),
    "inference.mirror_axes": lambda v: all(a in (0, 1, 2) for a in v) and len(set(v)) == len(v),
    "inference.batch_size": _positive,
    "evaluate.overlay_cases": _non_negative,
    "adversarial.weight": _non_negative,
    "adversarial.features": lambda v: len(v) >= 1 and all(f > 0 for f in v),
    "adversarial.alternate_every": _non_negative,
    "prepare.slice_size": lambda v: len(v) in (0, 2) and all(isinstance(s, int) and s > 0 for s in v),
    "layout.label_values": lambda v: all(len(p) == 2 and all(isinstance(x, int) and x >= 0 for x in p) for p in v)
    and len({p[0] for p in v}) == len(v),
    "layout.unlisted_values": _one_of("error", "nearest"),
    "layout.colour": _one_of("gray", "rgb"),
    "layout.class_names": lambda v: all(isinstance(n, str) and n for n in v) and len(set(v)) == len(v),
    "propagation.classes": lambda v: all(isinstance(c, int) and c > 0 for c in v),
    "propagation.stop_after_empty": _non_negative,
    "propagation.correction_fractions": lambda v: all(0 < f <= 1 for f in v),
    "task": _one_of("segmentation", "detection"),
    "detection.max_boxes": _positive,
    "detection.min_size": _positive,
    "detection.max_size": _positive,
    "detection.canvas": lambda v: len(v) in (0, 2) and all(s >= 16 for s in v),
    "detection.flip_p": lambda v: 0 <= v <= 1,
    "detection.backbone": _one_of("vgg16", "resnet_fpn"),
    "detection.width": _positive,
    "detection.frozen_convs": lambda v: 0 <= v <= 13,
    "detection.rpn_features": _positive,
    "detection.fc_features": _positive,
    "detection.anchor_scales": lambda v: len(v) > 0 and all(s > 0 for s in v),
    "detection.anchor_ratios": lambda v: len(v) > 0 and all(r > 0 for r in v),
    "detection.rpn_pre_nms": lambda v: len(v) == 2 and all(n > 0 for n in v),
    "detection.rpn_post_nms": lambda v: len(v) == 2 and all(n > 0 for n in v),
    "detection.rpn_nms_iou": lambda v: 0 < v <= 1,
    "detection.rpn_samples": _positive,
    "detection.rpn_positive_fraction": lambda v: 0 < v <= 1,
    "detection.rpn_iou": lambda v: len(v) == 2 and 0 <= v[0] <= v[1] <= 1,
    "detection.roi_samples": _positive,
    "detection.roi_positive_fraction": lambda v: 0 < v <= 1,
    "detection.roi_foreground_iou": lambda v: 0 < v <= 1,
    "detection.roi_background_iou": lambda v: len(v) == 2 and 0 <= v[0] < v[1] <= 1,
    "detection.roi_size": _positive,
    "detection.rpn_sigma": _positive,
    "detection.roi_sigma": _positive,
    "detection.score_threshold": lambda v: 0 <= v < 1,
    "detection.nms_iou": lambda v: 0 < v <= 1,
    "detection.max_detections": _positive,
}
_rule_docs = {
    "phantom.shape": "three sizes, each >= 16 voxels",
    "phantom.spacing_mm": "three positive spacings in mm",
    "model.features": "at least two positive channel counts",
    "loss.class_weights": "positive weights, one per class",
    "optimizer.momentum": "in [0, 1)",
    "train.best_metric_ema": "in [0, 1)",
    "optimizer.boundaries": "strictly increasing positive step numbers",
    "mesh.data": "-1 (all devices) or a positive device count",
    "data.folds": "0 (no cross-validation) or at least 2 folds",
    "data.clip_hu": "a window (low, high) in HU with low < high",
    "prepare.spacing_mm": "empty, or three positive spacings in mm",
    "sampling.block_shape": "three positive sizes in voxels",
    "sampling.foreground_fraction": "in [0, 1]",
    "sampling.pair_classes": "positive label values",
    "augment.rotate_deg": "in [0, 180]",
    "augment.prior_rotate_deg": "in [0, 180]",
    "augment.prior_scale": "in [0, 1)",
    **{f"augment.{name}": "a range (low, high) with 0 < low <= high" for name in
       ("scale_range", "brightness_range", "contrast_range", "gamma_range", "blur_sigma")},
    **{f"augment.{name}_p": "a probability in [0, 1]" for name in
       ("flip", "rot90", "rotate", "scale", "elastic", "brightness", "contrast", "gamma", "noise", "blur")},
    "inference.roi_size": "() or 2 or 3 positive window sizes",
    "inference.overlap": "in [0, 1)",
    "inference.mirror_axes": "distinct spatial axes among 0, 1, 2",
    "prepare.slice_size": "empty, or two positive sizes in pixels",
    "layout.label_values": "pairs (mask value, class) of non-negative integers, each mask value once",
    "layout.class_names": "distinct non-empty names",
    "propagation.classes": "positive label values",
    "propagation.correction_fractions": "fractions in (0, 1]",
    "detection.canvas": "() or (H, W), each >= 16 pixels",
    "detection.frozen_convs": "in [0, 13] (VGG16 has 13 convolutions)",
    "detection.rpn_pre_nms": "(training, test) positive counts",
    "detection.rpn_post_nms": "(training, test) positive counts",
    "detection.rpn_iou": "(negative below, positive from) with 0 <= low <= high <= 1",
    "detection.roi_background_iou": "[low, high) with 0 <= low < high <= 1",
}


def _get(config: ml_collections.ConfigDict, key: str) -> Any:
    node: Any = config
    for part in key.split("."):
        node = node[part]
    return node


def validate(config: ml_collections.ConfigDict) -> None:
    """Raise ConfigError naming the first key whose value is impossible."""
    for key, check in _RULES.items():
        value = _get(config, key)
        try:
            ok = bool(check(value))
        except TypeError:
            ok = False
        if isinstance(value, float) and not math.isfinite(value):
            ok = False
        if not ok:
            expected = _rule_docs.get(key, check.__doc__ or "a valid value")
            raise ConfigError(f"config key '{key}' = {value!r} is invalid: expected {expected}")
    if config.loss.class_weights and len(config.loss.class_weights) != config.model.num_classes:
        raise ConfigError(
            f"config key 'loss.class_weights' has {len(config.loss.class_weights)} weights but "
            f"'model.num_classes' = {config.model.num_classes}"
        )
    if config.data.batch_size % config.train.grad_accum_steps:
        raise ConfigError(
            f"config key 'data.batch_size' = {config.data.batch_size} is not divisible by "
            f"'train.grad_accum_steps' = {config.train.grad_accum_steps}"
        )
    if config.data.folds and config.data.fold >= config.data.folds:
        raise ConfigError(f"config key 'data.fold' = {config.data.fold} must be below 'data.folds' = {config.data.folds}")
    if config.data.folds and config.data.num_test:
        raise ConfigError(f"config key 'data.num_test' = {config.data.num_test} must be 0 with 'data.folds' = "
                          f"{config.data.folds}: the test cases are fold 'data.fold'")
    if config.inference.mode == "sliding_window" and not config.inference.roi_size:
        raise ConfigError("config key 'inference.roi_size' must be set when 'inference.mode' = 'sliding_window'")
    if config.data.sampler == "pairs" and config.train.best_metric != "dice":
        raise ConfigError(f"config key 'train.best_metric' = {config.train.best_metric!r} must be 'dice' for "
                          "'data.sampler' = pairs: propagation is validated by one-shot Dice")
    _validate_layout(config)
    if config.task == "detection":
        _validate_detection(config)
        if config.mesh.spatial != 1 or config.adversarial.enabled:
            raise ConfigError("config keys 'mesh.spatial' (> 1) and 'adversarial.enabled' apply to segmentation, "
                              "not to task = detection")
    else:
        _validate_model(config)
    if config.train.val_every % config.train.log_every and config.train.val_every < config.train.steps:
        # Validation metrics are logged with the training metrics of the same step.
        raise ConfigError(
            f"config key 'train.val_every' = {config.train.val_every} must be a multiple of "
            f"'train.log_every' = {config.train.log_every}"
        )


PLANAR_SOURCES = ("image_folders", "dsb2018")  # Each case is one 2D image: an axial one-slice volume.


def _validate_layout(config: ml_collections.ConfigDict) -> None:
    """2D sources train on their axial slices; slice resizing fixes the grid that crops and resampling would change."""
    if config.data.source in PLANAR_SOURCES:
        if config.data.plane != "axial":
            raise ConfigError(f"config key 'data.plane' = {config.data.plane!r} must be 'axial' for 'data.source' = "
                              f"{config.data.source!r}: a 2D image is one axial slice")
        if config.data.sampler != "slices":
            raise ConfigError(f"config key 'data.sampler' = {config.data.sampler!r} must be 'slices' for "
                              f"'data.source' = {config.data.source!r} (2D images)")
    if config.prepare.slice_size and (config.prepare.spacing_mm or config.prepare.crop != "none"):
        raise ConfigError("config key 'prepare.slice_size' cannot be combined with 'prepare.spacing_mm' or "
                          "'prepare.crop': inference resizes whole slices of the uncropped image")
    names = config.layout.class_names
    if names and len(names) != config.model.num_classes:
        raise ConfigError(f"config key 'layout.class_names' names {len(names)} classes but 'model.num_classes' = "
                          f"{config.model.num_classes}")


def _validate_model(config: ml_collections.ConfigDict) -> None:
    """The model section names a network whose options fit together, and one the training can use."""
    from jaxseg.models import build_model  # The option lists live with the networks; imports JAX.

    try:
        model = build_model(config.model)
        if hasattr(model, "check"):
            model.check()
    except ValueError as err:
        raise ConfigError(f"config section 'model' (model.name = {config.model.name!r}): {err}") from None
    if model.head != "softmax":  # Every loss of loss.name reads logits with a softmax.
        raise ConfigError(f"config key 'model.head' = {model.head!r} does not fit 'loss.name' = "
                          f"{config.loss.name!r}, a softmax loss")
    if getattr(model, "padding", "same") != "same":
        raise ConfigError("config key 'model.padding' = 'valid': training needs same padding (labels are not cropped)")
    if config.adversarial.enabled and getattr(model, "deep_supervision", False):
        raise ConfigError("config key 'adversarial.enabled' needs 'model.deep_supervision' = false: the "
                          "discriminator judges the full-resolution output")
    if config.model.num_classes < 2 and model.head == "softmax":
        raise ConfigError("config key 'model.num_classes' must be >= 2 (background included) for a softmax head")


def _validate_detection(config: ml_collections.ConfigDict) -> None:
    """The detection section's counts fit together and with model.num_classes."""
    d = config.detection
    if len(d.classes) + 1 != config.model.num_classes:
        raise ConfigError(f"config key 'model.num_classes' = {config.model.num_classes} must be "
                          f"len('detection.classes') + 1 = {len(d.classes) + 1} (the background is class 0)")
    if d.min_size > d.max_size:
        raise ConfigError(f"config key 'detection.min_size' = {d.min_size} exceeds 'detection.max_size' = {d.max_size}")
    if any(post > pre for pre, post in zip(d.rpn_pre_nms, d.rpn_post_nms)):
        raise ConfigError(f"config key 'detection.rpn_post_nms' = {tuple(d.rpn_post_nms)} keeps more proposals than "
                          f"'detection.rpn_pre_nms' = {tuple(d.rpn_pre_nms)} decodes")


def _parse_value(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text  # A bare word such as `adam` is a string.


def apply_override(config: ml_collections.ConfigDict, override: str) -> None:
    """Apply one `a.b=value` override in place (value as a Python literal or a bare string)."""
    key, sep, text = override.partition("=")
    if not sep or not key:
        raise ConfigError(f"override '{override}' is not of the form key=value")
    set_value(config, key, text, from_text=True)


def set_value(config: ml_collections.ConfigDict, key: str, value: Any, from_text: bool = False) -> None:
    """Set an existing key (`a.b`), converting the value to the key's type; ConfigError if impossible.

    With `from_text`, `value` is command-line text: a Python literal, or a bare word for strings.
    """
    *parents, leaf = key.split(".")
    node: Any = config
    for depth, part in enumerate(parents):
        if not isinstance(node, ml_collections.ConfigDict) or part not in node:
            raise ConfigError(f"unknown config key '{'.'.join(parents[: depth + 1])}' (in '{key}')")
        node = node[part]
    if not isinstance(node, ml_collections.ConfigDict) or leaf not in node:
        raise ConfigError(f"unknown config key '{key}'")
    current = node[leaf]
    if isinstance(current, ml_collections.ConfigDict):
        raise ConfigError(f"config key '{key}' is a section; set one of its keys instead")
    kind = node.get_type(leaf)  # The declared type, also for keys that are None (unset).
    shown = value
    if from_text and not issubclass(kind, str):
        value = _parse_value(value)
    if value is None:
        pass  # Unsets a network key (JSON null, or None on the command line).
    elif issubclass(kind, bool):
        if isinstance(value, str) and value.lower() in ("true", "false"):
            value = value.lower() == "true"
        if not isinstance(value, bool):
            raise ConfigError(f"config key '{key}' expects true or false, got '{shown}'")
    elif issubclass(kind, tuple):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = (value,)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"config key '{key}' expects a list such as {current or (1, 2)!r}, got '{shown}'")
        value = tuple(value)
    elif isinstance(value, list):
        value = tuple(value)  # A key of any type (object) holding a list, as JSON gives it back.
    elif issubclass(kind, (int, float)) and isinstance(value, bool):
        raise ConfigError(f"config key '{key}' expects {kind.__name__}, got '{shown}'")
    try:
        node[leaf] = value
    except TypeError:
        raise ConfigError(f"config key '{key}' expects {kind.__name__}, got '{shown}'") from None


def find_config(name_or_path: str) -> Path:
    """A config file path, or the name of one in the repository's configs/ folder (`demo`)."""
    path = Path(name_or_path)
    if path.suffix != ".py":
        path = CONFIGS_DIR / f"{name_or_path}.py"
    if not path.is_file():
        raise ConfigError(f"config file '{path}' does not exist")
    return path


def load_config(name_or_path: str, overrides: Iterable[str] = ()) -> ml_collections.ConfigDict:
    """Load a config file, apply overrides, validate; raise ConfigError naming what is wrong."""
    path = find_config(name_or_path)
    spec = importlib.util.spec_from_file_location(f"jaxseg_config_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
        config = module.get_config()
    except (AttributeError, TypeError, KeyError) as err:
        raise ConfigError(f"config file '{path}': {err}") from None
    if not isinstance(config, ml_collections.ConfigDict):
        raise ConfigError(f"config file '{path}': get_config() must return an ml_collections.ConfigDict")
    for override in overrides:
        apply_override(config, override)
    validate(config)
    return config


def config_from_json(text: str) -> ml_collections.ConfigDict:
    """Rebuild a config saved with `config.to_json()` (for example inside a checkpoint)."""
    config = base_config()
    for key, value in _flatten(json.loads(text)):
        set_value(config, key, value)
    validate(config)
    return config


def _flatten(tree: dict, prefix: str = "") -> Iterable[tuple[str, Any]]:
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value
