"""Train-step throughput of every seed model at its seed shape: compile time, step time, samples/s,
voxels/s, achieved TFLOP/s and MFU, compiled-step memory (and the device's own peak on GPUs); fp32
and bf16, remat off and on.

The step is jaxseg's own (`compile_train_step`), on one random batch kept on the devices, so the
input pipeline is excluded (benchmarks/data_pipeline.py measures it). FLOPs come from XLA's cost
analysis of the step without remat (model FLOPs); MFU is against the device's tabled peak, or a
measured matmul on CPUs. On GPUs each case runs in its own process, so that the device's peak
memory statistic belongs to that case alone.

    python benchmarks/train_throughput.py [--reduced] [--steps 5] [--cases pig_ct_2d,nnunet_3d]
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import statistics
import subprocess
import sys
import time

import jax
import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from results_io import markdown, results_dir, write_results  # noqa: E402
from seed_cases import CASES, DETECTION_CASE, case_config, detection_config  # noqa: E402

from jaxseg.core.mesh import global_batch, make_mesh  # noqa: E402
from jaxseg.perf.peaks import achieved_tflops, device_peak, mfu  # noqa: E402
from jaxseg.perf.step_cost import StepMemory, lower_train_step, model_flops, random_batch, time_steps  # noqa: E402
from jaxseg.train.build import build_state  # noqa: E402
from jaxseg.train.detection_state import build_detection_state  # noqa: E402
from jaxseg.train.detection_step import detection_train_step  # noqa: E402
from jaxseg.train.step import compile_step  # noqa: E402

VARIANTS = [("float32", False), ("bfloat16", False), ("float32", True), ("bfloat16", True)]
# --variants reduced (CPU budget): remat only where it matters most, the 3D blocks of seed 000.
REMAT_CASES_REDUCED = ("pig_ct_3d",)


def timed_row(compiled, state, data: dict, flops: float, compile_s: float, dtype: str, mesh, steps: int,
              warmup: int) -> dict:
    """A row's timing, throughput, utilisation and memory fields: `steps` steps after `warmup` of
    `compiled` on `data` (batch, *spatial, channels) kept on the devices."""
    seconds, losses, _ = time_steps(compiled, state, data, steps, warmup)
    step_s = statistics.median(seconds)
    batch, *spatial, _ = data["image"].shape
    peak, peak_source = device_peak(dtype)
    stats = jax.devices()[0].memory_stats() or {}
    return {
        "batch": batch, "spatial": spatial, "devices": mesh.size, "compile_s": compile_s, "step_s": step_s,
        "step_s_all": seconds, "samples_per_s": batch / step_s, "voxels_per_s": batch * math.prod(spatial) / step_s,
        "model_flops_per_step": flops, "tflops": achieved_tflops(flops, step_s), "peak_tflops": peak,
        "peak_source": peak_source, "mfu": mfu(flops, step_s, peak, mesh.size) if peak else None,
        "compiled_peak_bytes": StepMemory.of(compiled).peak_bytes, "device_peak_bytes": stats.get("peak_bytes_in_use"),
        "loss_first_last": [losses[0], losses[-1]],
    }


def measure(name: str, dtype: str, remat: bool, reduced: bool, steps: int, warmup: int = 1) -> dict:
    """One case and variant: compile, then time `steps` steps after `warmup`."""
    case = CASES[name]
    batch, spatial = case.shape(reduced)
    config = case_config(name, dtype, remat, batch)
    mesh = make_mesh(-1)
    state = build_state(config, mesh, spatial)
    start = time.perf_counter()
    lowered = lower_train_step(config, batch, spatial, mesh, state)
    compiled = lowered.compile()
    compile_s = time.perf_counter() - start
    flops = model_flops(config, batch, spatial, mesh) if remat else float(lowered.cost_analysis()["flops"])
    return {"case": name, "preset": case.preset, "dtype": dtype, "remat": remat, "in_channels": case.in_channels,
            **timed_row(compiled, state, random_batch(config, batch, spatial, mesh), flops, compile_s, dtype, mesh,
                        steps, warmup)}


def measure_detection(reduced: bool, steps: int, warmup: int = 1) -> dict:
    """Seed 002's Faster R-CNN train step (fp32): batch 1 on a 600^2 canvas (reduced: 192^2, quarter width),
    two boxes per image, as `measure` reports a segmentation case."""
    config = detection_config(reduced)
    size, batch = config.detection.canvas[0], config.data.batch_size
    mesh = make_mesh(-1)
    state = build_detection_state(config, mesh)
    rng = np.random.default_rng(0)
    boxes = np.zeros((batch, config.detection.max_boxes, 4), np.float32)
    boxes[:, :2] = [[0.1 * size, 0.2 * size, 0.45 * size, 0.8 * size],
                    [0.55 * size, 0.2 * size, 0.9 * size, 0.8 * size]]
    host = {"image": rng.normal(size=(batch, size, size, config.model.in_channels)).astype(np.float32),
            "boxes": boxes, "labels": np.ones((batch, config.detection.max_boxes), np.int32),
            "box_valid": np.arange(config.detection.max_boxes)[None].repeat(batch, 0) < 2,
            "image_size": np.full((batch, 2), size, np.int32), "scale": np.ones(batch, np.float32)}
    data = global_batch(host, mesh)
    start = time.perf_counter()
    lowered = compile_step(functools.partial(detection_train_step, d=config.detection), mesh).lower(state, data)
    compiled = lowered.compile()
    compile_s = time.perf_counter() - start
    return {"case": DETECTION_CASE, "preset": f"vgg16 x{config.detection.width}", "dtype": "float32", "remat": False,
            "in_channels": config.model.in_channels,
            **timed_row(compiled, state, data, float(lowered.cost_analysis()["flops"]), compile_s, "float32", mesh,
                        steps, warmup)}


def measure_isolated(name: str, dtype: str, remat: bool, reduced: bool, steps: int) -> dict:
    """`measure` in a fresh process (the device's peak-memory statistic never resets in a process)."""
    args = [sys.executable, __file__, "--one", f"{name}:{dtype}:{int(remat)}", "--steps", str(steps)]
    done = subprocess.run(args + (["--reduced"] if reduced else []), capture_output=True, text=True)
    if done.returncode:
        return {"case": name, "dtype": dtype, "remat": remat, "error": done.stderr.strip().splitlines()[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def table(rows: list[dict]) -> str:
    header = ["case", "dtype", "remat", "batch x shape", "compile s", "step s", "samples/s", "Mvoxels/s",
              "TFLOP/s", "MFU %", "compiled peak GiB", "device peak GiB"]
    body = []
    for r in rows:
        if "error" in r or "skipped" in r:
            body.append([r["case"], r.get("dtype"), r.get("remat"), r.get("error") or r["skipped"]] + [""] * 8)
            continue
        device = r["device_peak_bytes"] / 2**30 if r["device_peak_bytes"] else None
        body.append([r["case"], r["dtype"], r["remat"], f"{r['batch']}x{'x'.join(map(str, r['spatial']))}",
                     r["compile_s"], r["step_s"], r["samples_per_s"], r["voxels_per_s"] / 1e6, r["tflops"],
                     100 * r["mfu"] if r["mfu"] is not None else None, r["compiled_peak_bytes"] / 2**30, device])
    return markdown(header, body)


def plot(rows: list[dict], path) -> None:
    """Samples/s per case, one bar per variant (log scale: the cases differ by orders of magnitude)."""
    ok = [r for r in rows if "step_s" in r]
    cases = list(dict.fromkeys(r["case"] for r in ok))
    fig, ax = plt.subplots(figsize=(9, 4))
    width = 0.8 / len(VARIANTS)
    for i, (dtype, remat) in enumerate(VARIANTS):
        values = [next((r["samples_per_s"] for r in ok if (r["case"], r["dtype"], r["remat"]) == (c, dtype, remat)),
                       0) for c in cases]
        ax.bar([j + i * width for j in range(len(cases))], values, width,
               label=f"{dtype}{' remat' if remat else ''}")
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(cases))], cases, rotation=20)
    ax.set_yscale("log")
    ax.set_ylabel("samples / s")
    ax.set_title(f"train step throughput, {jax.devices()[0].device_kind}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reduced", action="store_true", help="small inputs, same networks (CPU)")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per case (median reported)")
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated case names")
    parser.add_argument("--variants", default="all", choices=("all", "reduced"),
                        help=f"all | reduced: fp32 and bf16 without remat, fp32 remat for {REMAT_CASES_REDUCED}")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # NAME:DTYPE:REMAT, for measure_isolated.
    args = parser.parse_args()
    if args.one:
        name, dtype, remat = args.one.split(":")
        print(json.dumps(measure(name, dtype, remat == "1", args.reduced, args.steps)))
        return
    isolate = jax.default_backend() == "gpu"
    rows = []
    for name in args.cases.split(","):
        if args.variants == "all":
            variants = VARIANTS
        else:
            variants = VARIANTS[:3] if name in REMAT_CASES_REDUCED else VARIANTS[:2]
        for dtype, remat in variants:
            run = measure_isolated if isolate else measure
            rows.append(run(name, dtype, remat, args.reduced, args.steps))
            print(json.dumps({k: v for k, v in rows[-1].items() if k != "step_s_all"}))
    rows.append(measure_detection(args.reduced, args.steps))
    print(json.dumps({k: v for k, v in rows[-1].items() if k != "step_s_all"}))
    write_results("train_throughput", {"reduced": args.reduced, "steps": args.steps, "rows": rows}, table(rows))
    plot(rows, results_dir() / "train_throughput.png")


if __name__ == "__main__":
    main()
