"""Measure, don't assume: forward + backward of jaxseg's x2 upsampling step, a stride-2 transposed
convolution against nearest resize + convolution (same parameter count), 2D and 3D, fp32 and bf16.

jax issue 31662 reports 3D transposed-convolution gradients 32x slower than PyTorch's on GPUs; this
times both options of `jaxseg.models.blocks.Upsample` on this device, with the presets' kernels
(2: U-Net, nnU-Net; 3: seed 000), and checks that switching a preset's `up` keeps its parameter count.

    python benchmarks/upsampling.py [--reduced]
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
from results_io import markdown, median_seconds, write_results

from jaxseg.models.blocks import Upsample
from jaxseg.models.info import model_info
from jaxseg.models.layers import ConvSettings
from jaxseg.models.presets import PRESETS

# (rank, channels in, channels out, input side): a decoder step near full resolution.
SHAPES = {"3d": (3, 64, 32, 48), "2d": (2, 128, 64, 128)}
SHAPES_REDUCED = {"3d": (3, 32, 16, 16), "2d": (2, 32, 16, 32)}


def time_upsample(rank: int, c_in: int, c_out: int, side: int, mode: str, kernel: int, dtype, steps: int) -> float:
    """Median seconds of one jit-compiled forward + backward (gradients for parameters and input)."""
    module = Upsample(c_out, mode, kernel, False, False, ConvSettings(norm="none", dtype=dtype))
    x = jax.random.normal(jax.random.key(0), (1, *(side,) * rank, c_in), jnp.float32)
    params = module.init(jax.random.key(1), x, False)

    @jax.jit
    def grads(params, x):
        return jax.grad(lambda p, x: jnp.mean(module.apply(p, x, False).astype(jnp.float32) ** 2), (0, 1))(params, x)

    return median_seconds(grads, (params, x), steps)


def preset_parameter_check() -> list[dict]:
    """Parameter counts of each U-Net preset with up=transposed and up=nearest (same kernel)."""
    rows = []
    for name in ("pig_ct_2d", "pig_ct_3d", "propagation_unet", "unet2d_sigmoid", "nnunet_3d"):
        preset = PRESETS[name]
        counts = {}
        for mode in ("transposed", "nearest"):
            PRESETS[name] = type(preset)(preset.network, {**preset.options, "up": mode}, preset.input_shape,
                                         preset.source)
            try:
                counts[mode] = model_info(name)["params"]
            finally:
                PRESETS[name] = preset
        rows.append({"preset": name, "current_up": preset.options.get("up", "transposed"),
                     "params_transposed": counts["transposed"], "params_nearest": counts["nearest"]})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reduced", action="store_true")
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    rows = []
    for label, (rank, c_in, c_out, side) in (SHAPES_REDUCED if args.reduced else SHAPES).items():
        for dtype in (jnp.float32, jnp.bfloat16):
            for kernel in (2, 3):
                times = {mode: time_upsample(rank, c_in, c_out, side, mode, kernel, dtype, args.steps)
                         for mode in ("transposed", "nearest")}
                rows.append({"rank": label, "channels": [c_in, c_out], "input_side": side,
                             "dtype": jnp.dtype(dtype).name, "kernel": kernel, "transposed_s": times["transposed"],
                             "nearest_conv_s": times["nearest"],
                             "speedup_nearest": times["transposed"] / times["nearest"]})
                print(rows[-1])
    presets = preset_parameter_check()
    table = markdown(["rank", "dtype", "kernel", "channels", "input side", "transposed s", "nearest+conv s",
                      "transposed / nearest"],
                     [[r["rank"], r["dtype"], r["kernel"], f"{r['channels'][0]}->{r['channels'][1]}", r["input_side"],
                       r["transposed_s"], r["nearest_conv_s"], r["speedup_nearest"]] for r in rows])
    table += "\n\n" + markdown(["preset", "up now", "params transposed", "params nearest+conv"],
                               [[p["preset"], p["current_up"], f"{p['params_transposed']:,}",
                                 f"{p['params_nearest']:,}"] for p in presets])
    write_results("upsampling", {"reduced": args.reduced, "rows": rows, "presets": presets}, table)


if __name__ == "__main__":
    main()
