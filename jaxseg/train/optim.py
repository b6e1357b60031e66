"""Optimisers and learning-rate schedules from a config's `optimizer` section."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import optax


def learning_rate_schedule(config: ml_collections.ConfigDict, total_steps: int) -> optax.Schedule:
    """Linear warm-up from 0 over `warmup_steps`, then one of:

    constant; cosine decay to 0; nnU-Net's poly, lr * (1 - t/T)^0.9; piecewise, the rate multiplied
    by `decay_factor` at each step of `boundaries` (counted from the start of training), as the
    seeds' step decays (seed 002: x0.5 every 10 epochs; seed 004: x0.1 at epochs 10, 20, 25).
    """
    peak = config.learning_rate
    decay_steps = max(total_steps - config.warmup_steps, 1)
    if config.schedule == "constant":
        main = optax.constant_schedule(peak)
    elif config.schedule == "cosine":
        main = optax.cosine_decay_schedule(peak, decay_steps)
    elif config.schedule == "poly":
        main = optax.polynomial_schedule(peak, 0.0, power=0.9, transition_steps=decay_steps)
    elif config.schedule == "piecewise":
        main = optax.piecewise_constant_schedule(
            peak, {b - config.warmup_steps: config.decay_factor for b in config.boundaries})
    else:
        raise ValueError(f"unknown schedule '{config.schedule}'")
    if config.warmup_steps == 0:
        return main
    warmup = optax.linear_schedule(0.0, peak, config.warmup_steps)
    return optax.join_schedules([warmup, main], [config.warmup_steps])


def make_optimizer(config: ml_collections.ConfigDict, total_steps: int) -> optax.GradientTransformation:
    """The configured optimiser, with global-norm gradient clipping when `grad_clip_norm` > 0.

    weight_decay: adamw decays the weights apart from the gradient (decoupled); adam, sgd and
    rmsprop add weight_decay * params to the gradient (L2, PyTorch's `weight_decay`, as seed 002's
    "Adam, weight decay 1e-4" was run).
    """
    lr = learning_rate_schedule(config, total_steps)
    if config.name == "adam":
        opt = optax.adam(lr)
    elif config.name == "adamw":
        opt = optax.adamw(lr, weight_decay=config.weight_decay)
    elif config.name == "sgd":
        opt = optax.sgd(lr, momentum=config.momentum or None, nesterov=config.nesterov)
    elif config.name == "rmsprop":
        opt = optax.rmsprop(lr, decay=config.momentum)
    else:
        raise ValueError(f"unknown optimizer '{config.name}'")
    if config.weight_decay > 0 and config.name != "adamw":
        opt = optax.chain(optax.add_decayed_weights(config.weight_decay), opt)
    if config.grad_clip_norm > 0:
        opt = optax.chain(optax.clip_by_global_norm(config.grad_clip_norm), opt)
    return opt


class _TurnState(NamedTuple):
    count: jax.Array
    inner: optax.OptState


def _in_turn(inner: optax.GradientTransformation, turn: int, turns: int, period: int) -> optax.GradientTransformation:
    """`inner`, applied only on steps s with (s // period) % turns == turn; otherwise no update, state kept."""

    def init(params):
        return _TurnState(jnp.zeros([], jnp.int32), inner.init(params))

    def update(updates, state, params=None):
        new_updates, new_inner = inner.update(updates, state.inner, params)
        active = (state.count // period) % turns == turn
        new_updates = jax.tree.map(lambda u: jnp.where(active, u, jnp.zeros_like(u)), new_updates)
        new_inner = jax.tree.map(lambda new, old: jnp.where(active, new, old), new_inner, state.inner)
        return new_updates, _TurnState(state.count + 1, new_inner)

    return optax.GradientTransformation(init, update)


def alternating(groups: dict[str, optax.GradientTransformation], period: int) -> optax.GradientTransformation:
    """One optimiser per top-level parameter group ({"discriminator": ..., "segmenter": ...}), the groups
    taking turns of `period` steps in the order given (0: every group every step).

    Seed 002 alternates per epoch, discriminator first. A group's schedule counts its own steps.
    """
    names = list(groups)
    if period:
        groups = {name: _in_turn(tx, turn, len(names), period) for turn, (name, tx) in enumerate(groups.items())}
    return optax.multi_transform(groups, lambda params: {k: jax.tree.map(lambda _: k, v) for k, v in params.items()})
