"""Stopping a diverged run before a non-finite state reaches a checkpoint."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxseg.core.state import TrainState
from jaxseg.train.checkpoint import Checkpoints
from jaxseg.train.checksums import host_array


class TrainingDiverged(FloatingPointError):
    """The loss or a parameter became NaN or infinite; nothing non-finite was saved."""


@jax.jit
def _all_finite(trees) -> jax.Array:
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(trees)
                              if jnp.issubdtype(x.dtype, jnp.inexact)] or [jnp.bool_(True)]))


def require_finite(step: int, loss: float, state: TrainState | None, checkpoints: Checkpoints) -> None:
    """TrainingDiverged naming `step` and the newest checkpoint (finite: only finite states are
    saved) when `loss` or, when a state is given (it is about to be saved), any of its parameters,
    batch statistics or optimiser moments is not finite.

    The running average of the validation metric is left out: it is -inf before the first validation.
    """
    if np.isfinite(loss):
        if state is None or bool(host_array(_all_finite((state.params, state.batch_stats, state.opt_state)))):
            return
        what = f"non-finite parameters or optimiser state after step {step} (loss {loss})"
    else:
        what = f"loss {loss} at step {step}"
    checkpoints.wait()
    latest = checkpoints.latest_step()
    kept = (f"the last checkpoint, {checkpoints.directory / str(latest)} (step {latest}), is finite and intact"
            if latest is not None else f"no checkpoint was saved in {checkpoints.directory}")
    raise TrainingDiverged(f"training diverged: {what}; nothing non-finite was saved: {kept}; lower "
                           "optimizer.learning_rate (continuing from there with --resume-with-changed-config) or "
                           "train anew with optimizer.grad_clip_norm")
