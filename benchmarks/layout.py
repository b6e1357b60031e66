"""Measure, don't assume: channels-last (NHWC / NDHWC, Flax's and jaxseg's layout) against
channels-first (NCHW / NCDHW, PyTorch's) for a U-Net level's work, forward + backward.

Two 3x3(x3) convolutions with ReLU, gradients for the kernels and the input, written once with
`lax.conv_general_dilated` and run in both layouts on the same values (the results are checked to
agree). XLA may pick its own physical layouts on GPUs; this measures what the logical layout costs
on this device, fp32 and bf16.

    python benchmarks/layout.py [--reduced] [--steps 5]
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from results_io import markdown, median_seconds, write_results

# (batch, channels, side) per rank: a decoder level near full resolution; reduced for CPUs.
SHAPES = {"3d": (2, 32, 64), "2d": (4, 64, 256)}
SHAPES_REDUCED = {"3d": (2, 16, 24), "2d": (2, 32, 64)}


def level(x: jax.Array, kernels: list[jax.Array], channels_last: bool, dtype) -> jax.Array:
    """Two same-padded convolutions + ReLU. x: (N, *S, C) if channels_last else (N, C, *S);
    kernels: (*K, C_in, C_out)."""
    rank = x.ndim - 2
    spatial = "DHW"[-rank:]
    layout = f"N{spatial}C" if channels_last else f"NC{spatial}"
    numbers = lax.conv_dimension_numbers(x.shape, kernels[0].shape, (layout, f"{spatial}IO", layout))
    for kernel in kernels:
        x = jax.nn.relu(lax.conv_general_dilated(x.astype(dtype), kernel.astype(dtype), (1,) * rank, "SAME",
                                                 dimension_numbers=numbers))
    return x


def grads_fn(channels_last: bool, dtype):
    """jit of (gradients of mean(level^2) for the kernels and the input)."""
    def loss(kernels, x):
        return jnp.mean(level(x, kernels, channels_last, dtype).astype(jnp.float32) ** 2)
    return jax.jit(jax.grad(loss, (0, 1)))


def measure(rank: int, batch: int, channels: int, side: int, dtype, steps: int) -> dict:
    keys = jax.random.split(jax.random.key(0), 3)
    x_last = jax.random.normal(keys[0], (batch, *(side,) * rank, channels), jnp.float32)
    kernels = [jax.random.normal(k, (*(3,) * rank, channels, channels), jnp.float32) / (3**rank * channels) ** 0.5
               for k in keys[1:]]
    x_first = jnp.moveaxis(x_last, -1, 1)
    last, first = grads_fn(True, dtype), grads_fn(False, dtype)
    # Same values, both layouts: the kernel gradients must agree (bf16: to its precision).
    tolerance = 1e-4 if dtype == jnp.float32 else 5e-2
    for a, b in zip(last(kernels, x_last)[0], first(kernels, x_first)[0]):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tolerance,
                                   atol=tolerance * float(jnp.abs(a).max()))
    last_s = median_seconds(last, (kernels, x_last), steps)
    first_s = median_seconds(first, (kernels, x_first), steps)
    return {"rank": f"{rank}d", "dtype": jnp.dtype(dtype).name, "batch": batch, "channels": channels, "side": side,
            "channels_last_s": last_s, "channels_first_s": first_s, "first_over_last": first_s / last_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reduced", action="store_true")
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    rows = []
    for label, (batch, channels, side) in (SHAPES_REDUCED if args.reduced else SHAPES).items():
        for dtype in (jnp.float32, jnp.bfloat16):
            rows.append(measure(int(label[0]), batch, channels, side, dtype, args.steps))
            print(rows[-1])
    table = markdown(["rank", "dtype", "batch x channels x side", "channels-last s", "channels-first s",
                      "first / last (> 1: channels-last faster)"],
                     [[r["rank"], r["dtype"], f"{r['batch']}x{r['channels']}x{r['side']}", r["channels_last_s"],
                       r["channels_first_s"], r["first_over_last"]] for r in rows])
    write_results("layout", {"reduced": args.reduced, "rows": rows}, table)


if __name__ == "__main__":
    main()
