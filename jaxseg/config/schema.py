"""`base_config()`: every key jaxseg understands, with its type, default and meaning."""

from __future__ import annotations

import ml_collections


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
    # Pinned splits: case ids or image file names (a list, or a text file with one per line); each
    # replaces the seeded choice of its split (its subjects go whole); the other is drawn from the rest.
    c.data.test_cases = ml_collections.FieldReference((), field_type=object)
    c.data.val_cases = ml_collections.FieldReference((), field_type=object)
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
    # Valid-padding U-Nets (model.padding = valid): the square input tile of training and overlap-tile
    # inference, pixels; 0: the preset's reference input (572 for ronneberger2015, output 388).
    c.sampling.tile_size = 0

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
    c.augment.device = False  # Transform on the accelerator (jaxseg.data.device_augment); workers only crop.

    c.phantom = ml_collections.ConfigDict()
    c.phantom.num_cases = 14
    c.phantom.shape = (64, 64, 32)  # Voxels (x, y, z) before per-case variation of z.
    c.phantom.spacing_mm = (6.0, 6.0, 8.0)
    c.phantom.seed = 0

    c.model = ml_collections.ConfigDict()
    c.model.name = "unet"  # A preset of jaxseg.models.PRESETS; the network keys below that are set override it.
    # Classes of the label maps, background included. Outputs: this many with a softmax head, one per
    # foreground class (num_classes - 1) with a sigmoid head.
    c.model.num_classes = 2
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

    c.loss = ml_collections.ConfigDict()  # Every name and its options: jaxseg.train.objective.LOSSES, README "Losses".
    # dice_ce | cross_entropy (softmax) | bce (sigmoid) | dice | jaccard | generalized_dice | tversky | focal
    c.loss.name = "dice_ce"
    c.loss.dice_weight = 1.0  # dice_ce: weight of the Dice term...
    c.loss.ce_weight = 1.0  # ...and of the cross-entropy (BCE under a sigmoid head).
    c.loss.include_background = False  # Overlap losses of a softmax head: count class 0 too.
    c.loss.class_weights = ()  # Softmax: one weight per class for the CE term (and focal's alpha); () = unweighted.
    c.loss.pos_weight = 1.0  # Sigmoid BCE (bce, dice_ce): weight of the foreground term...
    c.loss.neg_weight = 1.0  # ...and of the background term.
    # given: pos/neg_weight as set | inverse_frequency: seed 000's 1/f and 1/(1-f), f the foreground
    # fraction of the prepared training cases' voxels (f = 0.289 gives 3.460 and 1.406).
    c.loss.bce_weights = "given"
    c.loss.smooth_nr = 1e-5  # Overlap losses: added to the numerator...
    c.loss.smooth_dr = 1e-5  # ...and the denominator (seed 003's soft Dice: 1 and 1).
    c.loss.batch_dice = True  # Overlap losses: sums over the whole batch (nnU-Net), else per sample.
    c.loss.squared_pred = False  # dice: p^2 and g^2 in the denominator (Milletari's V-Net Dice).
    c.loss.gdl_weight_type = "square"  # generalized_dice: square | simple | uniform (MONAI's w_type).
    c.loss.tversky_alpha = 0.5  # tversky: weight of false positives...
    c.loss.tversky_beta = 0.5  # ...and of false negatives.
    c.loss.focal_gamma = 2.0
    c.loss.focal_alpha = _unset(float)  # Sigmoid focal: foreground weight alpha, background 1 - alpha; unset: none.

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
    # Sums across the devices of the data axis (gradients, batch-norm statistics, the loss's batch) are exact
    # integer sums: the same parameters from any process layout of the same devices (segmentation, mesh.spatial 1).
    c.train.exact_reductions = True

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
    c.inference.threshold = 0.5  # Sigmoid heads: a voxel belongs to class c + 1 when output c is at least this.
    # Slice propagation (data.sampler = pairs, either head): foreground where its probability reaches this.

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
    # dicom_folders: the label file in each series folder (.nii.gz, .nii, .nrrd, .dcm SEG).
    c.layout.label_name = "label"
    c.layout.class_names = ()  # Names of classes 0, 1, ... (image_folders, dicom_folders); () means generic names.
    # Slice propagation (task = "propagation", seed 004): validation, evaluation, `jaxseg propagate`.
    c.propagation = ml_collections.ConfigDict()
    c.propagation.classes = ()  # Label values validated and evaluated; empty: sampling.pair_classes, else all.
    c.propagation.stop_after_empty = 0  # Stop a direction after this many empty slices; 0: at the volume's end.
    c.propagation.correction_fractions = (0.5, 0.25, 0.2, 0.1)  # Simulated-correction steps after one-shot,
    # each a fraction of the organ's extent along data.plane (seed 004's figures: 0.1).
    # Detection: seed 002's Faster R-CNN (jaxseg.models.detection), trained when task = "detection".
    # data.root, data.num_val/num_test/split_seed, data.batch_size, model.num_classes (box classes + 1 for
    # the background), model.in_channels, optimizer and train apply to it; the other sections do not.
    # segmentation | detection | propagation, or a registered task (jaxseg.tasks): which model, data,
    # train step, validation, evaluation and prediction.
    c.task = "segmentation"
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
    c.detection.frozen_convs = 4  # vgg16: the first convolutions are not trained (seed 002: 4); 0 for resnet_fpn.
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
    # Reading files: what one image or label file may claim before memory is allocated for it.
    c.io = ml_collections.ConfigDict()
    c.io.max_voxels = 2**31  # Voxels x channels of one file; a larger claim is an error naming the file.
    c.lock()
    return c
