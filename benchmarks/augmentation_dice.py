"""Does device augmentation train as well as the CPU path? The demo phantoms as a 3D block task
(32x32x24 blocks, 3D U-Net 8-16-32-64, nnU-Net's augmentation probabilities), trained for the same
steps with `augment.device` False and True; validation Dice on 3 cases after each run.

    python benchmarks/augmentation_dice.py [--steps 300] [--seeds 0]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from jaxseg.config import load_config
from jaxseg.train.loop import fit

from results_io import markdown, write_results

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
    args = parser.parse_args()
    rows, results = [], []
    with tempfile.TemporaryDirectory(prefix="jaxseg-augdice-") as scratch:
        for seed in args.seeds:
            for device in (False, True):
                values = {**DEMO_3D, "seed": seed, "augment.device": device, "train.steps": args.steps,
                          "train.val_every": args.steps, "train.log_every": args.steps // 5,
                          "train.checkpoint_every": args.steps, "data.root": f"{scratch}/phantoms"}
                workdir = Path(scratch) / f"seed{seed}_device{device}"
                start = time.perf_counter()
                fit(load_config("demo", overrides(values)), workdir, progress=False)
                seconds = time.perf_counter() - start
                last = [json.loads(x) for x in (workdir / "metrics.jsonl").read_text().splitlines()][-1]
                results.append({"seed": seed, "device": device, "steps": args.steps, "val_dice": last["val_dice"],
                                "final_loss": last["loss"], "seconds": seconds})
                rows.append([seed, device, args.steps, last["val_dice"], last["loss"], seconds])
                print(results[-1], flush=True)
    table = markdown(["seed", "augment.device", "steps", "val Dice (3 cases)", "final loss", "run s"], rows)
    print(table)
    write_results("augmentation_dice", {"config": "demo + " + json.dumps(DEMO_3D), "results": results}, table)


if __name__ == "__main__":
    main()
