"""Slice-by-slice propagation of a mask through a volume (seed 004), with user corrections.

A 2-channel 2D model segments slice t from [image slice t, mask of the neighbouring slice]. From
an annotated start slice the mask is propagated outwards in both directions, each prediction
becoming the next slice's prior. A corrected slice replaces the prediction there and propagation
restarts from it outward (away from the start), overwriting what was there: the seed's protocol.
Each direction is one `lax.scan` over the slices inside one jit-compiled call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from jaxseg.metrics import dice_score

# (H, W, 2) [image, prior] -> (H, W) foreground probability; traced inside lax.scan.
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


def propagate(step_fn: MaskStepFn, images: np.ndarray, start: int, corrections: Mapping[int, np.ndarray],
              stop_after_empty: int = 0, threshold: float = 0.5) -> np.ndarray:
    """Binary masks (S, H, W) uint8 for a stack of slices (S, H, W), propagated from slice `start`.

    corrections: {slice index: mask (H, W)}; it must hold `start` (the user's initial mask) and may
    hold corrected slices, which are kept as given and restart propagation outward from them.
    """
    if start not in corrections:
        raise ValueError(f"the start slice {start} needs a mask in `corrections`")
    count = images.shape[0]
    annotations = np.zeros(images.shape, np.float32)
    annotated = np.zeros(count, bool)
    for index, mask in corrections.items():
        annotations[index] = mask > 0
        annotated[index] = True
    run = jax.jit(_propagate_one_way, static_argnums=(0, 4, 5))
    images = np.asarray(images, np.float32)
    forward = run(step_fn, images[start:], annotations[start:], annotated[start:], stop_after_empty, threshold)
    backward = run(step_fn, images[start::-1], annotations[start::-1], annotated[start::-1], stop_after_empty,
                   threshold)
    masks = np.concatenate([np.asarray(backward)[:0:-1], np.asarray(forward)])
    return masks.astype(np.uint8)


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


def simulated_correction_curve(step_fn: MaskStepFn, images: np.ndarray, truth: np.ndarray,
                               fractions: tuple[float | None, ...] = (None, 0.5, 0.2, 0.1),
                               stop_after_empty: int = 0) -> dict[str, float]:
    """Dice of the whole volume (corrected slices included) against the number of simulated corrections.

    For each fraction p, reference slices every p of the organ's extent from its middle outwards
    replace the predictions there (None: only the middle slice, one-shot). Returns {"one-shot" or
    f"{p:g}": Dice}.
    """
    truth = truth > 0
    curve = {}
    for fraction in fractions:
        start, slices = correction_slices(truth, fraction)
        masks = propagate(step_fn, images, start, {s: truth[s] for s in slices}, stop_after_empty)
        curve["one-shot" if fraction is None else f"{fraction:g}"] = dice_score(masks > 0, truth)
    return curve
