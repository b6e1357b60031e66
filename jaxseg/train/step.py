"""Pure train and predict steps; `compile_train_step` jit-compiles one over a mesh."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import jax
import optax
from jax.sharding import Mesh

from jaxseg.train.mesh import batch_sharding, replicated
from jaxseg.train.state import TrainState, model_variables

LossFn = Callable[[jax.Array, jax.Array], jax.Array]


def train_step(state: TrainState, batch: dict[str, jax.Array], loss_fn: LossFn) -> tuple[TrainState, dict]:
    """One optimiser step on batch {"image": (N, *spatial, C), "label": (N, *spatial)}.

    Batch-norm statistics come from the whole global batch (under jit the mean over a sharded
    batch axis is a cross-device reduction), so they agree with a single-device run.
    Returns the new state and {"loss", "grad_norm"} as scalars.
    """

    def compute_loss(params):
        variables = {**model_variables(state), "params": params}
        logits, updates = state.apply_fn(variables, batch["image"], train=True, mutable=["batch_stats"])
        return loss_fn(logits, batch["label"]), updates

    (loss, updates), grads = jax.value_and_grad(compute_loss, has_aux=True)(state.params)
    state = state.apply_gradients(grads=grads, batch_stats=updates.get("batch_stats", state.batch_stats))
    return state, {"loss": loss, "grad_norm": optax.tree.norm(grads)}


def predict_step(state: TrainState, images: jax.Array) -> jax.Array:
    """Class probabilities (N, *spatial, C) for images (N, *spatial, C_in), inference mode."""
    return jax.nn.softmax(state.apply_fn(model_variables(state), images, train=False), axis=-1)


def compile_train_step(loss_fn: LossFn, mesh: Mesh):
    """train_step jit-compiled once: state replicated, batch split along the data axis; donates the state."""
    return jax.jit(
        partial(train_step, loss_fn=loss_fn),
        in_shardings=(replicated(mesh), batch_sharding(mesh)),
        out_shardings=(replicated(mesh), replicated(mesh)),
        donate_argnums=0,
    )
