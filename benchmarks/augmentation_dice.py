"""Does device augmentation train as well as the CPU path? The demo phantoms as a 3D block task
(32x32x24 blocks, 3D U-Net 8-16-32-64, nnU-Net's augmentation probabilities), trained for the same
steps with `augment.device` False and True; validation Dice on 3 cases after each run.

    python benchmarks/augmentation_dice.py [--steps 300] [--seeds 0] [--paths cpu device]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from results_io import markdown, results_dir, write_results

from jaxseg.config import load_config
from jaxseg.train.loop import fit

DEMO_3D = {
    "data.sampler": "blocks", "sampling.block_shape": (32, 32, 24), "sampling.blocks_per_case": 8,
    "data.batch_size": 2, "data.num_val": 3, "data.num_test": 1, "model.features": (8, 16, 32, 64),
    "inference.mode": "sliding_window", "inference.roi_size": (32, 32, 24), "inference.batch_size": 4,
    "augment.flip_p": 0.5, "augment.rotate_p": 0.2, "augment.rotate_deg": 30.0, "augment.scale_p": 0.2,
    "augment.scale_range": (0.7, 1.4), "augment.noise_p": 0.1, "augment.blur_p": 0.2,
    "augment.brightness_p": 0.15, "augment.contrast_p": 0.15, "augment.gamma_p": 0.3,
}


def overrides(values: dict) -> list[str]:
    return [f"{k}={v}".replace(" ", "") if isinstance(v, tuple) else f"{k}={v}" for k, v in values.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--paths", nargs="+", choices=["cpu", "device"], default=["cpu", "device"],
                        help="runs to do; rows of earlier runs (other seeds or paths) in the results file are kept")
    args = parser.parse_args()
    previous = results_dir() / "augmentation_dice.json"
    results = json.loads(previous.read_text())["results"] if previous.exists() else []
    with tempfile.TemporaryDirectory(prefix="jaxseg-augdice-") as scratch:
        for seed in args.seeds:
            for device in [path == "device" for path in args.paths]:
                values = {**DEMO_3D, "seed": seed, "augment.device": device, "train.steps": args.steps,
                          "train.val_every": args.steps, "train.log_every": args.steps // 5,
                          "train.checkpoint_every": args.steps, "data.root": f"{scratch}/phantoms"}
                workdir = Path(scratch) / f"seed{seed}_device{device}"
                start = time.perf_counter()
                fit(load_config("demo", overrides(values)), workdir, progress=False)
                seconds = time.perf_counter() - start
                last = [json.loads(x) for x in (workdir / "metrics.jsonl").read_text().splitlines()][-1]
                result = {"seed": seed, "device": device, "steps": args.steps, "val_dice": last["val_dice"],
                          "final_loss": last["loss"], "seconds": seconds, "load_average": os.getloadavg()[0]}
                results = [r for r in results if (r["seed"], r["device"], r["steps"]) != (seed, device, args.steps)]
                results.append(result)
                print(result, flush=True)
    results.sort(key=lambda r: (r["steps"], r["seed"], r["device"]))
    rows = [[r["seed"], r["device"], r["steps"], r["val_dice"], r["final_loss"], r["seconds"], r["load_average"]]
            for r in results]
    table = markdown(["seed", "augment.device", "steps", "val Dice (3 cases)", "final loss", "run s", "load"], rows)
    print(table)
    write_results("augmentation_dice", {"config": "demo + " + json.dumps(DEMO_3D), "results": results}, table)


if __name__ == "__main__":
    main()
