"""The pure segmentation train step, and `compile_step`: every task's step jit-compiled over a mesh."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh, PartitionSpec

from jaxseg.core import exact_sum
from jaxseg.core.mesh import DATA_AXIS, SPACE_AXIS, batch_sharding, replicated
from jaxseg.core.state import TrainState
from jaxseg.models import deep_supervision_outputs
from jaxseg.models.blocks import center_crop

LossFn = Callable[[jax.Array, jax.Array], jax.Array]


def _microbatches(batch: dict[str, jax.Array], count: int) -> dict[str, jax.Array]:
    """(B, ...) -> (count, B / count, ...), microbatch a holding samples a, a + count, ...

    Interleaving keeps every microbatch spread over all devices of the data axis (the batch axis
    is sharded in contiguous blocks), so splitting needs no communication.
    """
    return {k: v.reshape(-1, count, *v.shape[1:]).swapaxes(0, 1) for k, v in batch.items()}


def train_step(state: TrainState, batch: dict[str, jax.Array], loss_fn: LossFn,
               accum_steps: int = 1, forward_with_labels: bool = False,
               data_axis: str | None = None) -> tuple[TrainState, dict]:
    """One optimiser step on batch {"image": (N, *spatial, C), "label": (N, *spatial)}.

    With accum_steps > 1 the batch is split into that many microbatches whose gradients are
    averaged (a lax.scan, so activations of one microbatch live at a time); batch-norm statistics
    are updated microbatch by microbatch. Batch-norm statistics come from the whole (micro)batch
    across devices: under jit the mean over a sharded batch axis is a cross-device reduction.
    Dropout keys are folded from the state's key and step. With `forward_with_labels` the model's
    `training_outputs(image, label)` gives what `loss_fn` reads (a GAN's discriminator needs the
    reference masks), else its logits; a model that sows deep-supervision outputs gives the list
    [logits, *decoder outputs] (full resolution first). Logits smaller than the labels (a
    valid-padding network) are compared with the labels' centre. Returns the new state and
    {"loss", "grad_norm"} as scalars.

    With `data_axis`, the step runs on each device's share of the batch inside `shard_map` over that
    axis, and every sum across devices is exact (`jaxseg.core.exact_sum`), so the result does not
    depend on how the devices are spread over processes: batch-norm statistics through `exact_pmean`;
    the model's outputs and the labels gathered (exactly) so that every device computes the loss of
    the whole batch; each device's gradient (what its samples contribute) summed by `exact_psum`.
    """
    if data_axis is not None:
        with exact_sum.summing_across(data_axis):
            return _train_step(state, batch, loss_fn, accum_steps, forward_with_labels, data_axis)
    return _train_step(state, batch, loss_fn, accum_steps, forward_with_labels, None)


def _train_step(state: TrainState, batch: dict[str, jax.Array], loss_fn: LossFn, accum_steps: int,
                forward_with_labels: bool, data_axis: str | None) -> tuple[TrainState, dict]:
    dropout_rng = jax.random.fold_in(jax.random.wrap_key_data(state.rng), state.step)
    if data_axis is not None:  # Each device draws its own samples' dropout.
        dropout_rng = jax.random.fold_in(dropout_rng, jax.lax.axis_index(data_axis))

    def grads_of(batch_stats, micro, index):
        def compute_loss(params):
            variables = {"params": params, "batch_stats": batch_stats}
            inputs = (micro["image"], micro["label"]) if forward_with_labels else (micro["image"],)
            outputs, updates = state.apply_fn(variables, *inputs, train=True, mutable=["batch_stats", "intermediates"],
                                              rngs={"dropout": jax.random.fold_in(dropout_rng, index)},
                                              method="training_outputs" if forward_with_labels else None)
            labels = micro["label"]
            if not forward_with_labels:
                labels = center_crop(labels[..., None], outputs.shape[1:-1])[..., 0]
            if "deep_supervision" in updates.get("intermediates", {}):
                outputs = [outputs, *deep_supervision_outputs(updates)]
            if data_axis is not None:
                outputs = jax.tree.map(lambda o: exact_sum.gather_batch(o, data_axis), outputs)
                labels = jax.lax.all_gather(labels, data_axis, tiled=True)
            return loss_fn(outputs, labels), updates.get("batch_stats", batch_stats)

        (loss, new_stats), grads = jax.value_and_grad(compute_loss, has_aux=True)(state.params)
        return new_stats, (loss, grads)

    if accum_steps == 1:
        batch_stats, (loss, grads) = grads_of(state.batch_stats, batch, 0)
    else:
        def body(stats, indexed):
            index, micro = indexed
            return grads_of(stats, micro, index)

        batch_stats, (losses, grads) = jax.lax.scan(
            body, state.batch_stats, (jnp.arange(accum_steps), _microbatches(batch, accum_steps)))
        loss = losses.mean()
        grads = jax.tree.map(lambda g: g.mean(axis=0), grads)
    if data_axis is not None:
        grads = exact_sum.exact_psum(grads, data_axis)
    state = state.apply_gradients(grads=grads, batch_stats=batch_stats)
    return state, {"loss": loss, "grad_norm": optax.tree.norm(grads)}


def compile_step(step: Callable, mesh: Mesh):
    """A pure step(state, batch) -> (state, metrics) jit-compiled once for every task: state
    replicated, batch split along the data (and space) axes, metrics replicated; donates the state."""
    return jax.jit(step, in_shardings=(replicated(mesh), batch_sharding(mesh)),
                   out_shardings=(replicated(mesh), replicated(mesh)), donate_argnums=0)


def compile_train_step(loss_fn: LossFn, mesh: Mesh, accum_steps: int = 1, forward_with_labels: bool = False,
                       exact_reductions: bool = False):
    """The segmentation train_step with its loss, compiled by `compile_step`; with `exact_reductions`
    and several devices on the data axis, split over them by `shard_map` with exact sums across them
    (see train_step; needs a mesh without a space axis)."""
    step = partial(train_step, loss_fn=loss_fn, accum_steps=accum_steps, forward_with_labels=forward_with_labels)
    if exact_reductions and mesh.shape[DATA_AXIS] > 1:
        if mesh.shape[SPACE_AXIS] != 1:
            raise ValueError("exact reductions split the batch only: the mesh's space axis must have one device")
        step = jax.shard_map(partial(step, data_axis=DATA_AXIS), mesh=mesh,
                             in_specs=(PartitionSpec(), PartitionSpec(DATA_AXIS)),
                             out_specs=(PartitionSpec(), PartitionSpec()), check_vma=False)
    return compile_step(step, mesh)
