"""The planned 3D config against the hand-written demo config, on the demo phantoms, in the same steps.

Trains configs/demo.py (hand-written 2D U-Net, Adam) and configs/phantom_auto_3d.py (written by
`jaxseg plan --dataset demo --budget 8GiB --out configs/phantom_auto`: nnU-Net's rules, patch and
batch from XLA's memory analysis) for the same number of steps on the same 14 phantoms (same split:
10 train, 1 validation, 3 held out), then evaluates each run's best checkpoint on the 3 held-out
cases with `jaxseg.evaluate.evaluate_runs`, exactly as `jaxseg evaluate` does. Only the training
length and the validation/checkpoint cadence are overridden (the planned config's are nnU-Net's
250,000 steps); everything else runs as written.

    python benchmarks/planned_vs_demo.py [--steps 300] [--workdir DIR]

Writes benchmarks/results/planned_vs_demo/summary.json (held-out Dice per class and run, seconds)
and dice.png (held-out Dice per class) and loss.png (training loss by step).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from jaxseg.config import load_config  # noqa: E402
from jaxseg.evaluate import evaluate_runs  # noqa: E402
from jaxseg.train.loop import fit  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "planned_vs_demo"
RUNS = {"demo (hand-written 2D)": "demo", "phantom_auto_3d (planned)": "phantom_auto_3d"}


def train_and_evaluate(config_name: str, workdir: Path, steps: int, phantoms: Path) -> dict:
    """Train `config_name` for `steps` steps in `workdir` and evaluate its best checkpoint on the test split."""
    every = max(steps // 3, 1)
    config = load_config(config_name, [f"train.steps={steps}", f"train.val_every={every}",
                                       f"train.checkpoint_every={every}",
                                       f"train.log_every={10 if every % 10 == 0 else every}",
                                       f"data.root={phantoms}"])
    start = time.perf_counter()
    fit(config, workdir)
    trained = time.perf_counter() - start
    summary = evaluate_runs([workdir], progress=False)
    losses = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    return {"config": config_name, "steps": steps, "train_seconds": round(trained, 1),
            "eval_seconds": round(time.perf_counter() - start - trained, 1),
            "checkpoint": summary["checkpoints"][0],
            "dice_per_class": {c: round(v["Dice"], 4) for c, v in summary["mean"].items()},
            "foreground_dice": round(summary["foreground_mean"]["Dice"], 4),
            "loss": [(r["step"], r["loss"]) for r in losses if "loss" in r and "step" in r]}


def plot(results: dict[str, dict], out: Path) -> None:
    classes = list(next(iter(results.values()))["dice_per_class"])
    fig, ax = plt.subplots(figsize=(7, 3.5))
    width = 0.8 / len(results)
    for i, (label, r) in enumerate(results.items()):
        ax.bar([c + i * width for c in range(len(classes))], [r["dice_per_class"][k] for k in classes], width,
               label=f"{label}: mean {r['foreground_dice']:.3f}")
    ax.set_xticks([c + width * (len(results) - 1) / 2 for c in range(len(classes))], classes)
    ax.set_ylabel("held-out Dice (3 cases)")
    ax.set_ylim(0, 1)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "dice.png", dpi=120)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for label, r in results.items():
        ax.plot(*zip(*r["loss"]), label=label)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (Dice + CE)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "loss.png", dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="train steps of each run (demo's own: 300)")
    parser.add_argument("--workdir", help="where the runs go (default: a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="planned-vs-demo-") as scratch:
        root = Path(args.workdir or scratch)
        results = {label: train_and_evaluate(name, root / name, args.steps, root / "phantom")
                   for label, name in RUNS.items()}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "summary.json").write_text(json.dumps(results, indent=1))
    plot(results, RESULTS)
    for label, r in results.items():
        print(f"{label}: held-out foreground Dice {r['foreground_dice']:.3f} {r['dice_per_class']} "
              f"({r['train_seconds']:.0f} s training)")
    demo, planned = (r["foreground_dice"] for r in results.values())
    print(f"difference planned - demo: {planned - demo:+.3f} (done when >= -0.05)")


if __name__ == "__main__":
    main()
