"""Slice-by-slice propagation of a mask through a volume (seed 004), with user corrections.

A 2-channel 2D model segments slice t from [image slice t, mask of the neighbouring slice]. From
an annotated start slice the mask is propagated outwards in both directions, each prediction
becoming the next slice's prior. A corrected slice replaces the prediction there and propagation
restarts from it outward (away from the start), overwriting what was there: the seed's protocol.
Both directions run together as one `lax.scan` (vmapped over the two) inside one jit-compiled
call. A step function given as a `jax.tree_util.Partial` carries its arrays (a model's parameters)
as arguments of that call, not as constants compiled into it: one compilation serves every set
of weights.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from jaxseg.metrics import dice_score

# (H, W, 2) [image, prior] -> (H, W) foreground probability; traced inside lax.scan. A plain
# function, or a `jax.tree_util.Partial` whose bound arguments (parameters) are traced.
MaskStepFn = Callable[[jax.Array], jax.Array]


def _propagate_one_way(step_fn: MaskStepFn, images: jax.Array, annotations: jax.Array, annotated: jax.Array,
                       stop_after_empty: int, threshold: float) -> jax.Array:
    """Masks (S, H, W) for slices in scan order; slice 0 must be annotated.

    After `stop_after_empty` consecutive empty predictions (0 disables the rule) the rest stays
    empty until the next annotated slice restarts propagation.
    """

    def body(carry, inputs):
        prior, empty_run = carry
        image, annotation, is_annotated = inputs
        probability = step_fn(jnp.stack([image, prior], axis=-1))
        predicted = (probability >= threshold).astype(jnp.float32)
        if stop_after_empty:
            predicted = jnp.where(empty_run >= stop_after_empty, 0.0, predicted)
        mask = jnp.where(is_annotated, annotation, predicted)
        empty_run = jnp.where(is_annotated, 0, jnp.where(mask.any(), 0, empty_run + 1))
        return (mask, empty_run), mask

    initial = (jnp.zeros(images.shape[1:], jnp.float32), jnp.zeros((), jnp.int32))
    _, masks = jax.lax.scan(body, initial, (images, annotations, annotated))
    return masks


@functools.partial(jax.jit, static_argnums=(4, 5))
def _propagate_both_ways(step_fn: MaskStepFn, images: jax.Array, annotations: jax.Array, annotated: jax.Array,
                         stop_after_empty: int, threshold: float) -> jax.Array:
    """Both directions at once, (2, S, ...) inputs -> (2, S, H, W) masks: one scan over pairs of slices."""
    def one_way(images, annotations, annotated):
        return _propagate_one_way(step_fn, images, annotations.astype(jnp.float32), annotated, stop_after_empty,
                                  threshold)

    return jax.vmap(one_way)(images, annotations, annotated)


def propagate(step_fn: MaskStepFn, images: np.ndarray, start: int, corrections: Mapping[int, np.ndarray],
              stop_after_empty: int = 0, threshold: float = 0.5) -> np.ndarray:
    """Binary masks (S, H, W) uint8 for a stack of slices (S, H, W), propagated from slice `start`.

    corrections: {slice index: mask (H, W)}; it must hold `start` (the user's initial mask) and may
    hold corrected slices, which are kept as given and restart propagation outward from them.
    threshold: a predicted voxel is foreground where the step function's probability reaches it
    (inference.threshold); it also becomes the next slice's prior.
    """
    if start not in corrections:
        raise ValueError(f"the start slice {start} needs a mask in `corrections`")
    count = images.shape[0]
    annotations = np.zeros(images.shape, np.uint8)
    annotated = np.zeros(count, bool)
    for index, mask in corrections.items():
        if not 0 <= index < count:
            raise ValueError(f"slice {index} is outside the {count} slices of the volume")
        annotations[index] = mask > 0
        annotated[index] = True
    if not isinstance(step_fn, jax.tree_util.Partial):
        step_fn = jax.tree_util.Partial(step_fn)

    def both_ways(a: np.ndarray) -> np.ndarray:
        """(2, S, ...): slices from `start` up, then from `start` down, each padded to S at its end,
        so that every start slice of a volume shares one compilation (the padding's masks are dropped)."""
        ways = np.zeros((2, *a.shape), a.dtype)
        ways[0, : count - start], ways[1, : start + 1] = a[start:], a[start::-1]
        return ways

    masks = np.asarray(_propagate_both_ways(step_fn, both_ways(np.asarray(images, np.float32)),
                                            both_ways(annotations), both_ways(annotated), stop_after_empty,
                                            threshold))
    return np.concatenate([masks[1, start:0:-1], masks[0, : count - start]]).astype(np.uint8)


def correction_slices(truth: np.ndarray, fraction: float | None) -> tuple[int, list[int]]:
    """(middle slice, annotated slices) for the simulated-correction protocol of seed 004.

    truth: (S, H, W) binary reference. The middle of the organ's extent along S is always
    annotated; with `fraction`, so is every slice at multiples of round(fraction * extent) (at
    least 1) from the middle outwards within the extent. None gives the one-shot setting.
    """
    occupied = np.flatnonzero(truth.reshape(truth.shape[0], -1).any(axis=1))
    if occupied.size == 0:
        raise ValueError("the reference mask is empty: nothing to propagate")
    low, high = int(occupied[0]), int(occupied[-1])
    middle = (low + high) // 2
    if fraction is None:
        return middle, [middle]
    step = max(1, round(fraction * (high - low + 1)))
    slices = sorted({s for s in range(middle, high + 1, step)} | {s for s in range(middle, low - 1, -step)})
    return middle, slices


@dataclasses.dataclass(frozen=True)
class CorrectionPoint:
    """One point of a simulated-correction curve.

    fraction: the correction step as a fraction of the organ's extent (None: one-shot);
    corrected_slices: reference slices given besides the start slice; dice: Dice of the whole
    volume, corrected slices included; masks: (S, H, W) uint8, the propagated result.
    """

    fraction: float | None
    corrected_slices: int
    dice: float
    masks: np.ndarray

    @property
    def name(self) -> str:
        return "one-shot" if self.fraction is None else f"{self.fraction:g}"


def simulated_correction_curve(step_fn: MaskStepFn, images: np.ndarray, truth: np.ndarray,
                               fractions: tuple[float | None, ...] = (None, 0.5, 0.2, 0.1),
                               stop_after_empty: int = 0, threshold: float = 0.5) -> list[CorrectionPoint]:
    """Dice of the whole volume (corrected slices included) against the number of simulated corrections.

    images: (S, H, W) float32; truth: (S, H, W) binary reference. For each fraction p, reference
    slices every p of the organ's extent from its middle outwards replace the predictions there
    (None: only the middle slice, one-shot). One point per fraction, in the given order. A voxel
    is foreground where the step function's probability reaches `threshold` (inference.threshold).
    """
    truth = truth > 0
    curve = []
    for fraction in fractions:
        start, slices = correction_slices(truth, fraction)
        masks = propagate(step_fn, images, start, {s: truth[s] for s in slices}, stop_after_empty, threshold)
        curve.append(CorrectionPoint(fraction, len(slices) - 1, dice_score(masks > 0, truth), masks))
    return curve
