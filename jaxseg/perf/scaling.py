"""How a cost grows with input size: the exponent of a power law fitted in log-log space."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def power_law_fit(sizes: Sequence[float], costs: Sequence[float]) -> tuple[float, float]:
    """(exponent k, coefficient a) of cost = a * size^k, by least squares on log(cost) = log(a) + k log(size).

    With size = voxels per sample, k = 1 means the step cost is linear in the voxel count (what
    convolutions alone give); k < 1 shows fixed per-step overheads at small sizes. Needs at least
    two distinct positive sizes and positive costs (ValueError otherwise).
    """
    x, y = np.asarray(sizes, float), np.asarray(costs, float)
    if x.shape != y.shape or len(np.unique(x)) < 2 or (x <= 0).any() or (y <= 0).any():
        raise ValueError("power_law_fit needs matching positive sizes (at least two distinct) and costs")
    exponent, log_a = np.polyfit(np.log(x), np.log(y), 1)
    return float(exponent), float(np.exp(log_a))
