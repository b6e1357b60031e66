"""`validate(config)`: impossible values and keys that do not fit together, as ConfigError naming the key."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import ml_collections

from jaxseg.config.errors import ConfigError


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
    "io.max_voxels": _positive,
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
    "sampling.tile_size": _non_negative,
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
    "loss.dice_weight": _non_negative,
    "loss.ce_weight": _non_negative,
    "loss.class_weights": lambda v: all(w > 0 for w in v),
    "loss.focal_gamma": _non_negative,
    "loss.focal_alpha": lambda v: v is None or 0 <= v <= 1,
    "loss.pos_weight": _positive,
    "loss.neg_weight": _positive,
    "loss.bce_weights": _one_of("given", "inverse_frequency"),
    "loss.smooth_nr": _non_negative,
    "loss.smooth_dr": _non_negative,
    "loss.gdl_weight_type": _one_of("square", "simple", "uniform"),
    "loss.tversky_alpha": _non_negative,
    "loss.tversky_beta": _non_negative,
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
    "inference.threshold": lambda v: 0 < v < 1,
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
    "loss.focal_alpha": "unset (None) or a weight in [0, 1]",
    "inference.threshold": "a probability in (0, 1)",
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
        raise ConfigError(f"config key 'data.fold' = {config.data.fold} must be below 'data.folds' = "
                          f"{config.data.folds}")
    if config.data.folds and config.data.num_test:
        raise ConfigError(f"config key 'data.num_test' = {config.data.num_test} must be 0 with 'data.folds' = "
                          f"{config.data.folds}: the test cases are fold 'data.fold'")
    if config.inference.mode == "sliding_window" and not config.inference.roi_size:
        raise ConfigError("config key 'inference.roi_size' must be set when 'inference.mode' = 'sliding_window'")
    _validate_layout(config)
    from jaxseg.tasks import get_task  # The task registry names the tasks and imports one when asked.

    get_task(config.task).check_config(config)
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


def check_segmentation_model(config: ml_collections.ConfigDict, thresholds_foreground: bool = False) -> None:
    """The model section names a network whose options fit together, and one the training can use.
    thresholds_foreground: the task thresholds the foreground probability (propagation), so
    `inference.threshold` acts with a softmax head too."""
    from jaxseg.models import build_model, model_head  # The option lists live with the networks; imports JAX.

    try:
        model = build_model(config.model)
        if hasattr(model, "check"):
            model.check()
    except ValueError as err:
        raise ConfigError(f"config section 'model' (model.name = {config.model.name!r}): {err}") from None
    if getattr(model, "patch_classifier", False):
        raise ConfigError(f"config key 'model.name' = {config.model.name!r} is a patch classifier (one centre pixel "
                          "per input patch): jaxseg trains networks that predict a label map of their input; "
                          "`jaxseg model-info` describes it")
    _validate_valid_padding(config, model)
    if getattr(model, "deep_supervision", False) and model.depth < 3:
        raise ConfigError(f"config key 'model.deep_supervision' needs a depth >= 3 (here {model.depth}): nnU-Net's "
                          "weights give the lowest-resolution output 0, so a depth-2 network would train without it")
    if config.adversarial.enabled and getattr(model, "deep_supervision", False):
        raise ConfigError("config key 'adversarial.enabled' needs 'model.deep_supervision' = false: the "
                          "discriminator judges the full-resolution output")
    if config.model.num_classes < 2:
        raise ConfigError("config key 'model.num_classes' must be >= 2: the label maps' classes, background included")
    if config.train.exact_reductions and config.mesh.spatial > 1:
        raise ConfigError(f"config key 'train.exact_reductions' = True needs 'mesh.spatial' = 1 (here "
                          f"{config.mesh.spatial}): exact sums split the batch only; set it to False to split volumes")
    head = model_head(config.model)
    _validate_loss(config.loss, head)
    if config.inference.threshold != 0.5 and head == "softmax" and not thresholds_foreground:
        raise ConfigError(f"config key 'inference.threshold' = {config.inference.threshold} has no effect: it "
                          "thresholds sigmoid heads' outputs and slice propagation's foreground probability (task = "
                          "propagation); softmax heads take the arg-max")


def _validate_valid_padding(config: ml_collections.ConfigDict, model) -> None:
    """Valid-padding networks train on overlap tiles of 2D slices and predict by overlap-tile."""
    from jaxseg.models import overlap_tile

    if getattr(model, "padding", "same") != "valid":
        if config.sampling.tile_size:
            raise ConfigError(f"config key 'sampling.tile_size' = {config.sampling.tile_size} has no effect: it sizes "
                              "the tiles of valid-padding networks (model.padding = valid)")
        return
    if config.data.sampler != "slices" or config.inference.mode != "slices":
        raise ConfigError("config key 'model.padding' = 'valid' trains on overlap tiles of 2D slices: it needs "
                          "'data.sampler' = slices and 'inference.mode' = slices (overlap-tile prediction)")
    if config.adversarial.enabled or getattr(model, "deep_supervision", False) or config.augment.device:
        raise ConfigError("config key 'model.padding' = 'valid' cannot be combined with 'adversarial.enabled', "
                          "'model.deep_supervision' or 'augment.device' (they assume same-size inputs and outputs)")
    try:
        overlap_tile(config.model, config.sampling.tile_size)
    except ValueError as err:
        raise ConfigError(f"config key 'sampling.tile_size' = {config.sampling.tile_size} does not fit the "
                          f"valid-padding network: {err}") from None


def _validate_loss(loss: ml_collections.ConfigDict, activation: str) -> None:
    """`loss.name` exists and reads the model's head; every loss key set away from its default is read by it."""
    from jaxseg.config.schema import base_config
    from jaxseg.train.objective import LOSSES, loss_keys_read

    if loss.name not in LOSSES:
        raise ConfigError(f"config key 'loss.name' = {loss.name!r} is invalid: expected one of {', '.join(LOSSES)}")
    heads = LOSSES[loss.name].keys
    if activation not in heads:
        other = ({"sigmoid": "bce", "softmax": "cross_entropy"}[activation] if loss.name in ("bce", "cross_entropy")
                 else None)
        raise ConfigError(f"config key 'loss.name' = {loss.name!r} reads a {' or '.join(heads)} head, but the model's "
                          f"head is {activation}"
                          + (f" (use loss.name = {other!r} or set model.head)" if other else ""))
    defaults, read = base_config().loss, loss_keys_read(loss, activation)
    for key in loss:
        if key != "name" and key not in read and loss[key] != defaults[key]:
            raise ConfigError(f"config key 'loss.{key}' = {loss[key]!r} has no effect: loss.name = {loss.name!r} "
                              f"under a {activation} head reads "
                              + (", ".join(f"loss.{k}" for k in sorted(read)) or "no option"))


def check_detection(config: ml_collections.ConfigDict) -> None:
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
    if d.frozen_convs and d.backbone != "vgg16":
        raise ConfigError(f"config key 'detection.frozen_convs' = {d.frozen_convs} freezes VGG16 convolutions: set it "
                          f"to 0 for 'detection.backbone' = {d.backbone!r}")
