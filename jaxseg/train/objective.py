"""The loss a config's `loss` section names, and the training objective of a whole config.

`LOSSES` is the one table from `loss.name` to a function of jaxseg.losses: for each head activation
it reads, the `loss` keys it takes and the function's argument each becomes. Under a sigmoid head
the network has one output per foreground class, so integer labels become per-channel targets
(output c <-> class c + 1) before the loss reads them.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Sequence
from functools import partial

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxseg import losses
from jaxseg.models import build_model, model_head
from jaxseg.train.step import LossFn


@dataclasses.dataclass(frozen=True)
class LossEntry:
    """A selectable loss: `function(logits, labels, activation=..., **{argument: loss.<key>})`.

    keys: per head activation it reads ("softmax", "sigmoid"), {config key: function argument}.
    """

    function: Callable[..., jax.Array]
    keys: dict[str, dict[str, str]]


_OVERLAP = {"smooth_nr": "smooth_nr", "smooth_dr": "smooth_dr", "batch_dice": "batch"}
_BCE = {"pos_weight": "pos_weight", "neg_weight": "neg_weight", "bce_weights": ""}  # "": resolved to the weights
_DICE = {**_OVERLAP, "squared_pred": "squared_pred"}
_SOFTMAX_OVERLAP = {"include_background": "include_background"}


def _both(softmax: dict[str, str], sigmoid: dict[str, str]) -> dict[str, dict[str, str]]:
    return {"softmax": softmax, "sigmoid": sigmoid}


LOSSES: dict[str, LossEntry] = {
    "dice_ce": LossEntry(losses.dice_ce_loss, _both(
        {"dice_weight": "dice_weight", "ce_weight": "ce_weight", **_SOFTMAX_OVERLAP, **_DICE,
         "class_weights": "class_weights"},
        {"dice_weight": "dice_weight", "ce_weight": "ce_weight", **_DICE, **_BCE})),
    "cross_entropy": LossEntry(losses.cross_entropy, {"softmax": {"class_weights": "class_weights"}}),
    "bce": LossEntry(losses.binary_cross_entropy, {"sigmoid": _BCE}),
    "dice": LossEntry(losses.dice_loss, _both({**_SOFTMAX_OVERLAP, **_DICE}, _DICE)),
    "jaccard": LossEntry(losses.jaccard_loss, _both({**_SOFTMAX_OVERLAP, "batch_dice": "batch"},
                                                    {"batch_dice": "batch"})),
    "generalized_dice": LossEntry(losses.generalized_dice_loss, _both(
        {**_SOFTMAX_OVERLAP, **_OVERLAP, "gdl_weight_type": "w_type"}, {**_OVERLAP, "gdl_weight_type": "w_type"})),
    "tversky": LossEntry(losses.tversky_loss, _both(
        {**_SOFTMAX_OVERLAP, **_OVERLAP, "tversky_alpha": "alpha", "tversky_beta": "beta"},
        {**_OVERLAP, "tversky_alpha": "alpha", "tversky_beta": "beta"})),
    "focal": LossEntry(losses.focal_loss, _both({"focal_gamma": "gamma", "class_weights": "alpha"},
                                                {"focal_gamma": "gamma", "focal_alpha": "alpha"})),
}


def loss_keys_read(loss: ml_collections.ConfigDict, activation: str) -> set[str]:
    """The `loss` keys that `loss.name` reads under a head of `activation` (besides name)."""
    return set(LOSSES[loss.name].keys.get(activation, {}))


def _option(loss: ml_collections.ConfigDict, key: str):
    if key == "class_weights":
        return jnp.asarray(loss.class_weights, jnp.float32) if loss.class_weights else None
    return loss[key]


def foreground_targets(labels: jax.Array, num_outputs: int) -> jax.Array:
    """Integer labels (N, *spatial) -> float targets (N, *spatial, num_outputs): channel c is label == c + 1."""
    return jax.nn.one_hot(labels, num_outputs + 1, dtype=jnp.float32)[..., 1:]


def _with_sigmoid_targets(loss_fn: LossFn, logits: jax.Array, labels: jax.Array) -> jax.Array:
    if labels.ndim == logits.ndim - 1:
        labels = foreground_targets(labels, logits.shape[-1])
    return loss_fn(logits, labels)


def make_loss_fn(loss: ml_collections.ConfigDict, activation: str = "softmax") -> LossFn:
    """(logits, labels) -> scalar loss for `loss.name` (a `loss` section) under a head of `activation`.

    loss.bce_weights must already be resolved to pos/neg weights (`resolve_bce_weights`).
    """
    if loss.name not in LOSSES:
        raise ValueError(f"unknown loss '{loss.name}': expected one of {', '.join(LOSSES)}")
    entry = LOSSES[loss.name]
    if activation not in entry.keys:
        raise ValueError(f"loss '{loss.name}' reads a {' or '.join(entry.keys)} head, not a {activation} one")
    if "bce_weights" in entry.keys[activation] and loss.bce_weights != "given":
        raise ValueError("loss.bce_weights = inverse_frequency: resolve the weights from the data first "
                         "(resolve_bce_weights, as make_objective does)")
    options = {argument: _option(loss, key) for key, argument in entry.keys[activation].items() if argument}
    parameters = inspect.signature(entry.function).parameters
    if "activation" in parameters:  # cross_entropy and binary_cross_entropy read one head only
        options["activation"] = activation
    if activation == "sigmoid" and "include_background" in parameters:
        options["include_background"] = True  # no background output: channel 0 is the first foreground class
    loss_fn = partial(entry.function, **options)
    return partial(_with_sigmoid_targets, loss_fn) if activation == "sigmoid" else loss_fn


def resolve_bce_weights(loss: ml_collections.ConfigDict,
                        class_voxels: Sequence[np.ndarray]) -> ml_collections.ConfigDict:
    """The `loss` section with seed 000's BCE weights when `loss.bce_weights` = inverse_frequency.

    class_voxels: per training case, (num_classes,) voxels of each class (the prepared cache's
    counts); f is the share of all voxels outside class 0, and pos/neg weights become 1/f, 1/(1-f).
    """
    if loss.bce_weights != "inverse_frequency":
        return loss
    if not len(class_voxels):
        raise ValueError("loss.bce_weights = inverse_frequency needs the training cases' class voxel counts")
    totals = np.sum([np.asarray(v, np.int64) for v in class_voxels], axis=0)
    neg_weight, pos_weight = losses.inverse_frequency_weights(float(totals[1:].sum() / totals.sum()))
    resolved = loss.copy_and_resolve_references()
    resolved.pos_weight, resolved.neg_weight, resolved.bce_weights = pos_weight, neg_weight, "given"
    return resolved


def make_objective(config: ml_collections.ConfigDict,
                   class_voxels: Sequence[np.ndarray] = ()) -> tuple[LossFn, bool]:
    """(loss_fn, forward_with_labels) for `compile_train_step`.

    The `loss` section's loss under the model's head; nnU-Net's deep supervision over the decoder's
    outputs when the model has it (the step then passes a list of logits, full resolution first);
    wrapped in seed 002's GAN objective when `adversarial.enabled` (whose model output needs the
    labels). class_voxels: the training cases' class counts, for `loss.bce_weights` = inverse_frequency.
    """
    loss_fn = make_loss_fn(resolve_bce_weights(config.loss, class_voxels), model_head(config.model))
    if getattr(build_model(config.model), "deep_supervision", False):
        loss_fn = partial(losses.deep_supervision_loss, loss_fn=loss_fn)
    if not config.adversarial.enabled:
        return loss_fn, False
    return partial(losses.adversarial_loss, segmentation_loss=loss_fn, weight=config.adversarial.weight), True
