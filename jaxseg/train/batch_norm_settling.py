"""Whether a run is long enough for batch norm's running statistics to forget their initial values.

Inference and validation normalise with running averages updated as
`running = momentum * running + (1 - momentum) * batch` each step, from mean 0 and variance 1. After
n steps momentum^n of the initial values remain: with seed 000's Keras momentum 0.99, 30 % after 120
steps. A short run (a reduced benchmark, a quick fine-tune) then predicts with statistics that fit
no data, and its validation Dice swings with the seed (benchmarks/accuracy_planes.py measured 0.78
against 0.46 for two seeds; with momentum 0.9, 0.82 and 0.80).
"""

from __future__ import annotations

import math

import ml_collections

from jaxseg.models.build import build_model

# Above this share of the initial values left at the last step, `fit` says so before training.
UNSETTLED_SHARE = 0.05


def unsettled_batch_norm(config: ml_collections.ConfigDict) -> str | None:
    """A warning when the config's network uses batch norm whose running statistics keep more than
    UNSETTLED_SHARE of their initial values after `train.steps` steps, else None."""
    model = build_model(config.model)
    if getattr(model, "norm", None) != "batch":
        return None
    momentum, steps = model.bn_momentum, config.train.steps
    left = momentum**steps
    if left <= UNSETTLED_SHARE:
        return None
    enough = math.ceil(math.log(UNSETTLED_SHARE) / math.log(momentum))
    settles = math.floor(100 * UNSETTLED_SHARE ** (1 / steps)) / 100  # rounded down: still settles
    return (f"batch norm's running statistics will still hold {left:.0%} of their initial values after "
            f"{steps} steps (model.bn_momentum={momentum}), and validation and inference use them: train "
            f"{enough} steps or more, or set model.bn_momentum to {settles:.2f} or lower")
