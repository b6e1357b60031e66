"""Training state: parameters, batch-norm statistics, optimiser state and step."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax.training import train_state


class TrainState(train_state.TrainState):
    """Flax's TrainState plus the model's `batch_stats` collection (empty without batch norm), the
    key from which each step's dropout randomness is folded (so a resumed run draws the same), and
    the running average of the validation metric that picks the best checkpoint (-inf before the
    first validation, not NaN: multi-process placement checks that every process holds equal values;
    checkpointed so that a resumed run picks the same best step)."""

    batch_stats: Any = None
    rng: jax.Array | None = None
    metric_ema: jax.Array | None = None


def create_train_state(model: nn.Module, tx: optax.GradientTransformation, rng: jax.Array,
                       input_shape: tuple[int, ...]) -> TrainState:
    """Initialise parameters for inputs of `input_shape` (N, *spatial, C), float32.

    Lazily: the forward pass is traced for the variables' shapes but not computed (the same values
    as `model.init`, without compiling and running every layer op by op)."""
    init_rng, step_rng = jax.random.split(rng)
    variables = model.lazy_init(init_rng, jax.ShapeDtypeStruct(input_shape, jnp.float32), train=False)
    return TrainState.create(
        apply_fn=model.apply,
        params=variables["params"],
        batch_stats=variables.get("batch_stats", {}),
        tx=tx,
        rng=jax.random.key_data(step_rng),
        metric_ema=jnp.full((), -jnp.inf, jnp.float32),
    )


def model_variables(state: TrainState) -> dict[str, Any]:
    """The variables to pass to `apply_fn`."""
    return {"params": state.params, "batch_stats": state.batch_stats}


def parameter_count(params: Any) -> int:
    return sum(int(x.size) for x in jax.tree.leaves(params))
