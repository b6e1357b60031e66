"""Scaling: (1) train-step cost against input size, with a log-log plot and the fitted exponent;
(2) data parallelism: the same global batch over 1, 2, 4, 8 devices gives the same loss, and how
fast. On a CPU the devices are forced host devices (XLA_FLAGS=--xla_force_host_platform_device_count=N,
one subprocess per N), which share the same cores: that checks correctness and overheads, not
speed-up. On GPUs the meshes are subsets of the real devices.

    python benchmarks/scaling.py [--reduced] [--part size,dp]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys

import jax
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from results_io import markdown, results_dir, write_results  # noqa: E402
from seed_cases import CASES, case_config  # noqa: E402

from jaxseg.config import load_config  # noqa: E402
from jaxseg.core.mesh import make_mesh  # noqa: E402
from jaxseg.perf.scaling import power_law_fit  # noqa: E402
from jaxseg.perf.step_cost import lower_train_step, random_batch, time_steps  # noqa: E402
from jaxseg.train.build import build_state  # noqa: E402

# (case, sizes per side) for each rank: the full sweep, and the reduced one for CPUs.
SIZE_SWEEP = {"2d": ("lungs", (128, 256, 512, 768, 1024)), "3d": ("kayalibay", (64, 96, 128, 160))}
SIZE_SWEEP_REDUCED = {"2d": ("lungs", (16, 32, 64)), "3d": ("kayalibay", (16, 24, 32))}
DP_DEVICES = (1, 2, 4, 8)
DP_OVERRIDES = ["model.features=(16,32,64,128)", "model.num_classes=3", "data.batch_size=8"]
DP_SHAPE = (32, 32)


def step_seconds(config, batch: int, spatial: tuple[int, ...], mesh, steps: int) -> tuple[float, list[float], float]:
    """(median step seconds, losses of every step, FLOPs per step) of the config's train step (no remat)."""
    state = build_state(config, mesh, spatial)
    lowered = lower_train_step(config, batch, spatial, mesh, state)
    seconds, losses, _ = time_steps(lowered.compile(), state, random_batch(config, batch, spatial, mesh), steps)
    return statistics.median(seconds), losses, float(lowered.cost_analysis()["flops"])


def size_sweep(reduced: bool, steps: int) -> dict:
    sweeps = SIZE_SWEEP_REDUCED if reduced else SIZE_SWEEP
    out = {}
    mesh = make_mesh(1)
    for rank, (name, sides) in sweeps.items():
        config = case_config(name, "float32", False, 1)
        points = []
        for side in sides:
            spatial = (side,) * int(rank[0])
            seconds, _, flops = step_seconds(config, 1, spatial, mesh, steps)
            points.append({"side": side, "voxels": math.prod(spatial), "step_s": seconds, "flops": flops})
            print(rank, points[-1])
        voxels = [p["voxels"] for p in points]
        time_k, time_a = power_law_fit(voxels, [p["step_s"] for p in points])
        flops_k, _ = power_law_fit(voxels, [p["flops"] for p in points])
        out[rank] = {"case": name, "preset": CASES[name].preset, "points": points, "time_exponent": time_k,
                     "time_coefficient": time_a, "flops_exponent": flops_k}
    return out


def plot_sizes(sweep: dict, path) -> None:
    fig, axes = plt.subplots(1, len(sweep), figsize=(5 * len(sweep), 4))
    for ax, (rank, result) in zip(np.atleast_1d(axes), sweep.items()):
        v = np.array([p["voxels"] for p in result["points"]], float)
        t = np.array([p["step_s"] for p in result["points"]])
        ax.loglog(v, t, "o", label="measured")
        ax.loglog(v, result["time_coefficient"] * v ** result["time_exponent"], "-",
                  label=f"fit: t ~ voxels^{result['time_exponent']:.2f}")
        ax.set_xlabel("voxels per sample")
        ax.set_ylabel("train step, s")
        ax.set_title(f"{rank}: {result['preset']}, batch 1 (FLOPs ~ voxels^{result['flops_exponent']:.2f})", fontsize=9)
        ax.legend()
    fig.suptitle(jax.devices()[0].device_kind)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def dp_run(devices: int, steps: int) -> dict:
    """The demo U-Net on a fixed global batch over `devices` devices: step time and per-step losses."""
    config = load_config("demo", DP_OVERRIDES)
    mesh = make_mesh(devices)
    seconds, losses, _ = step_seconds(config, config.data.batch_size, DP_SHAPE, mesh, steps)
    return {"devices": devices, "step_s": seconds, "samples_per_s": config.data.batch_size / seconds, "losses": losses}


def dp_sweep(steps: int) -> list[dict]:
    if jax.default_backend() != "cpu":
        return [dp_run(n, steps) for n in DP_DEVICES if n <= jax.device_count()]
    rows = []
    for n in DP_DEVICES:
        env = {**os.environ, "XLA_FLAGS": f"{os.environ.get('XLA_FLAGS', '')} "
               f"--xla_force_host_platform_device_count={n}".strip()}
        done = subprocess.run([sys.executable, __file__, "--dp-worker", str(n), "--steps", str(steps)],
                              env=env, capture_output=True, text=True, check=True)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(rows[-1])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reduced", action="store_true")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--part", default="size,dp")
    parser.add_argument("--dp-worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.dp_worker:
        print(json.dumps(dp_run(args.dp_worker, args.steps)))
        return
    payload, tables = {"reduced": args.reduced}, []
    if "size" in args.part:
        payload["size"] = size_sweep(args.reduced, args.steps)
        plot_sizes(payload["size"], results_dir() / "scaling_size.png")
        tables.append(markdown(["rank", "preset", "side", "voxels", "step s", "GFLOP/step"],
                               [[rank, r["preset"], p["side"], p["voxels"], p["step_s"], p["flops"] / 1e9]
                                for rank, r in payload["size"].items() for p in r["points"]]))
        tables.append("\n".join(f"- {rank}: step time ~ voxels^{r['time_exponent']:.2f}, "
                                f"FLOPs ~ voxels^{r['flops_exponent']:.2f}" for rank, r in payload["size"].items()))
    if "dp" in args.part:
        rows = payload["dp"] = dp_sweep(args.steps)
        reference = np.array(rows[0]["losses"])
        for row in rows:
            row["max_rel_loss_diff"] = float(np.max(np.abs(np.array(row["losses"]) - reference) / np.abs(reference)))
        payload["dp_losses_equal_rtol_1e-4"] = all(r["max_rel_loss_diff"] < 1e-4 for r in rows)
        tables.append(markdown(["devices", "step s", "samples/s", "max relative loss difference vs 1 device"],
                               [[r["devices"], r["step_s"], r["samples_per_s"], r["max_rel_loss_diff"]] for r in rows]))
    write_results("scaling", payload, "\n\n".join(tables))


if __name__ == "__main__":
    main()
