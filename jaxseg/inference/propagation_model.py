"""A trained slice-propagation model (seed 004) as a `MaskStepFn`, the organs a case propagates,
and the one-shot Dice of propagating an organ from its middle slice alone."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxseg.core.state import TrainState, model_variables
from jaxseg.data.cases import LoadedCase
from jaxseg.data.slices import padded_size, plane_stack
from jaxseg.inference.propagation import MaskStepFn, correction_slices, propagate
from jaxseg.metrics import dice_score

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class _ModelMask:
    """The static half of a model's MaskStepFn (hashable: one compilation per network and slice shape)."""

    apply_fn: Callable
    pad_multiple: int
    activation: str  # The model's head: softmax over (background, foreground) or one sigmoid output.

    def __call__(self, variables: dict, pad_value: jax.Array, x: jax.Array) -> jax.Array:
        """Foreground probability (H, W) of one [image, prior] slice x (H, W, 2).

        The slice is padded at the high end of each axis to a multiple of `pad_multiple`, the
        image with `pad_value` and the prior with 0, as whole-slice inference pads, and cropped back.
        """
        height, width = x.shape[:2]
        pad = ((0, padded_size(height, self.pad_multiple) - height), (0, padded_size(width, self.pad_multiple) - width))
        image = jnp.pad(x[..., 0], pad, constant_values=pad_value)
        prior = jnp.pad(x[..., 1], pad)
        logits = self.apply_fn(variables, jnp.stack([image, prior], axis=-1)[None], train=False)
        if self.activation == "sigmoid":
            return jax.nn.sigmoid(logits)[0, :height, :width, 0]
        return jax.nn.softmax(logits, axis=-1)[0, :height, :width, 1]


def model_mask_step(state: TrainState, pad_multiple: int, pad_value: float, activation: str) -> MaskStepFn:
    """A binary model (input [image, prior]; a 2-class softmax or a 1-output sigmoid head, `activation`)
    as a MaskStepFn: (H, W, 2) -> P(foreground) (H, W).

    pad_value: the normalised intensity of empty space (`LoadedCase.pad_value`: air for CT). The
    parameters travel as traced arguments, so new weights (the next validation) reuse the compilation.
    """
    return jax.tree_util.Partial(_ModelMask(state.apply_fn, pad_multiple, activation), model_variables(state),
                                 jnp.float32(pad_value))


def propagation_classes(config: ml_collections.ConfigDict, present: Iterable[int]) -> list[int]:
    """The label values to propagate in a case whose label map holds the values `present`.

    propagation.classes, else sampling.pair_classes (what the model was trained on), else every
    foreground value present; configured values absent from the case are left out.
    """
    present = {int(v) for v in present if v}
    configured = tuple(config.propagation.classes) or tuple(config.sampling.pair_classes)
    return [v for v in configured if v in present] if configured else sorted(present)


def organ_slices(case: LoadedCase, plane: str, value: int) -> tuple[np.ndarray, np.ndarray]:
    """(images (S, H, W) float32, reference (S, H, W) bool) of one organ along an anatomical plane."""
    if case.image.array.ndim != 3:
        raise ValueError(f"case {case.case_id}: slice propagation takes single-channel images, got shape "
                         f"{case.image.array.shape}")
    axis = case.image.plane_axis(plane)
    return plane_stack(case.image.array, axis), plane_stack(case.label.array, axis) == value


def one_shot_dice(step_fn: MaskStepFn, images: np.ndarray, truth: np.ndarray, stop_after_empty: int,
                  threshold: float) -> float:
    """Volume Dice of the mask propagated from the reference of the organ's middle slice alone
    (foreground where the model's probability reaches `threshold`)."""
    start, _ = correction_slices(truth, None)
    masks = propagate(step_fn, images, start, {start: truth[start]}, stop_after_empty, threshold)
    return dice_score(masks > 0, truth)
