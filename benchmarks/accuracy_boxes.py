"""Detection accuracy on the shared data: jaxseg's Faster R-CNN config beside torchvision's Faster R-CNN.

The right and left lung boxes of cxr_lung_covid_hannover (configs/cxr_lung_boxes.py, seed 002's
Faster R-CNN sized for a CPU: 192 x 192 inputs, VGG16 at a quarter of its widths, 60 steps of 4):
- jaxseg trains on the committed split's training images (configs/splits/<folder>_{test,val}.txt,
  the split of the lung U-Net) and `jaxseg.evaluate` detects the held-out test images;
- torchvision (benchmarks/torchvision_detection_baseline.py, run by `--torch-python`, a Python
  with torch and torchvision) trains its FasterRCNN with the same backbone, anchors, sampling,
  RoIAlign, fc widths, optimiser, batch and steps on jaxseg's own samples of the same images;
- both sets of detections are scored by one implementation, `jaxseg.inference.detection.score_detections`
  (AP@0.5 per class, COCO-style, and the RSNA mAP over IoU 0.4-0.75; means over the 2 classes).
The config's size is what a CPU runs, so its record is filed under the reduced settings.

    python benchmarks/accuracy_boxes.py [--torch-python PATH] [--data-root ../shared/data] [--seed N]

Writes benchmarks/results/accuracy/cxr_lung_boxes_reduced[_seed<n>].json and regenerates
accuracy_reduced.md (benchmarks/accuracy.py's table).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from accuracy import REPO, steady_samples_per_s, write

NAME, CONFIG, FOLDER = "cxr_lung_boxes", "cxr_lung_boxes", "cxr_lung_covid_hannover"
SEED = "seed 002: no number (pneumonia validation mAP only in a figure, RSNA data not available): 20 Hannover images"
SETTINGS = ("batch_size", "steps", "learning_rate", "weight_decay")
DETECTION_KEYS = ("width", "rpn_features", "fc_features", "anchor_scales", "anchor_ratios", "rpn_pre_nms",
                  "rpn_post_nms", "rpn_nms_iou", "rpn_samples", "rpn_positive_fraction", "rpn_iou", "roi_samples",
                  "roi_positive_fraction", "roi_foreground_iou", "roi_background_iou", "roi_size", "sampling_ratio",
                  "score_threshold", "nms_iou", "max_detections")


def detection_config(data_root: Path, seed: int, splits: Path = REPO / "configs" / "splits"):
    """(config, override strings): the config on data_root/FOLDER with the committed split, the
    run's seed, and validation and a checkpoint at the last step only."""
    from jaxseg.config import load_config

    path = str(REPO / "configs" / f"{CONFIG}.py")
    steps = load_config(path).train.steps
    overrides = [f"data.root={data_root / FOLDER}", f"data.test_cases={splits / f'{FOLDER}_test.txt'}",
                 f"data.val_cases={splits / f'{FOLDER}_val.txt'}", f"train.val_every={steps}",
                 f"train.checkpoint_every={steps}", f"seed={seed}"]
    return load_config(path, overrides), overrides


def train_jaxseg(config, workdir: Path) -> dict:
    """Train, then detect the test split: scores, per-image detections (file pixels) and timings."""
    import jax

    from jaxseg.evaluate import evaluate_runs
    from jaxseg.train.loop import fit

    tic = time.perf_counter()
    state = fit(config, workdir)
    train_s = time.perf_counter() - tic
    summary = evaluate_runs([workdir], "test", workdir / "eval", progress=False)
    found = {p["image"]: (np.array(p["boxes"], np.float32).reshape(-1, 4), np.array(p["scores"], np.float32),
                          np.array([config.detection.classes.index(n) + 1 for n in p["labels"]], np.int32))
             for p in summary["per_image"]}
    return {"parameters": int(sum(x.size for x in jax.tree_util.tree_leaves(state.params))), "train_s": train_s,
            "samples_per_s": steady_samples_per_s(workdir / "metrics.jsonl", config.data.batch_size),
            "detections": found}


def export_samples(config, folder: Path) -> tuple[list, list]:
    """Write jaxseg's sample of each train and test image (`make_sample`, unflipped) for the
    torchvision script; return (train images, test images)."""
    from jaxseg.data.detection import Resizing, detection_splits, make_sample, read_detection_index

    splits = detection_splits(config, read_detection_index(config))
    (folder / "cases").mkdir(parents=True, exist_ok=True)
    resizing = Resizing.from_config(config)
    for image in (*splits["train"], *splits["test"]):
        np.savez(folder / "cases" / f"{_file_id(image.case_id)}.npz", **make_sample(image, resizing))
    return list(splits["train"]), list(splits["test"])


def _file_id(case_id: str) -> str:
    """A file name for an image id such as images/NAME.jpg."""
    return case_id.replace("/", "__")


def train_torchvision(config, folder: Path, train: list, test: list, python: str) -> dict:
    """Run benchmarks/torchvision_detection_baseline.py on the exported samples; its result and detections."""
    d = config.detection
    settings = {"canvas": list(d.canvas or (d.max_size, d.max_size)), "batch_size": config.data.batch_size,
                "steps": config.train.steps, "learning_rate": config.optimizer.learning_rate,
                "weight_decay": config.optimizer.weight_decay, "num_classes": config.model.num_classes,
                "in_channels": config.model.in_channels, "seed": config.seed,
                **{k: list(d[k]) if isinstance(d[k], tuple) else d[k] for k in DETECTION_KEYS},
                "train": [_file_id(i.case_id) for i in train], "test": [_file_id(i.case_id) for i in test]}
    (folder / "settings.json").write_text(json.dumps(settings, indent=2))
    subprocess.run([python, str(REPO / "benchmarks" / "torchvision_detection_baseline.py"), str(folder)], check=True)
    result = json.loads((folder / "result.json").read_text())
    found = json.loads((folder / "detections.json").read_text())
    result["detections"] = {i.case_id: (np.array(found[_file_id(i.case_id)]["boxes"], np.float32).reshape(-1, 4),
                                        np.array(found[_file_id(i.case_id)]["scores"], np.float32),
                                        np.array(found[_file_id(i.case_id)]["labels"], np.int32)) for i in test}
    return result


def torchvision_available(python: str) -> str | None:
    """None when `python` imports torch and torchvision's detection models, else why not."""
    script = REPO / "benchmarks" / "torchvision_detection_baseline.py"
    # The script imports its sibling torch_result, so its folder goes on the path as when it runs.
    check = (f"import runpy, sys; sys.path.insert(0, {str(script.parent)!r}); "
             f"runpy.run_path({str(script)!r}, run_name='check')['_import_torchvision']()")
    try:
        done = subprocess.run([python, "-c", check], capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"{python}: {err}"
    return None if done.returncode == 0 else f"{python} cannot import torchvision: {done.stderr.strip()[-300:]}"


def run(name: str, data_root: Path, settings: str, torch_python: str | None, workdir: Path, seed: int) -> dict:
    """Train and score both frameworks (accuracy.py's experiment interface; `name` is NAME and
    `settings` is recorded: the config is sized for a CPU, so both settings train it as it is);
    the result record (accuracy.py's schema, with AP@0.5)."""
    from jaxseg.inference.detection import score_detections

    config, overrides = detection_config(data_root, seed)
    train, test = export_samples(config, workdir / "torchvision")
    sides = {"jaxseg": train_jaxseg(config, workdir / "jaxseg")}
    why_not = torchvision_available(torch_python) if torch_python else "--no-torchvision"
    if why_not is None:
        sides["torchvision"] = train_torchvision(config, workdir / "torchvision", train, test, torch_python)
    d = config.detection
    result = {"dataset": name, "folder": FOLDER, "config": f"configs/{CONFIG}.py", "settings": settings,
              "task": "detection", "overrides": overrides, "train_cases": len(train),
              "test_cases": [i.case_id for i in test], "seed": SEED, "seed_iou": None, "hd95_unit": "",
              "steps": config.train.steps, "batch_size": config.data.batch_size,
              "input_size": list(d.canvas or (d.max_size, d.max_size)), "loss": "faster_rcnn",
              "baseline_loss": "faster_rcnn", "run_seed": config.seed, "monai": "not run: a detection task",
              "torchvision": None if why_not is None else f"not run: {why_not}"}
    for side, out in sides.items():
        found = [out["detections"][i.case_id] for i in test]
        scores = score_detections(test, found, d.classes)
        result[side] = {"mean": {"AP50": scores["mean_AP50"], "rsna_mAP": scores["mean_rsna_mAP"]},
                        "per_class": {"AP50": scores["AP50"], "rsna_mAP": scores["rsna_mAP"]},
                        "per_image": {i.case_id: {"boxes": np.round(f[0], 1).tolist(),
                                                  "scores": np.round(f[1], 4).tolist(), "labels": f[2].tolist()}
                                      for i, f in zip(test, found)},
                        **{k: v for k, v in out.items() if k != "detections"}}
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--torch-python", default=sys.executable,
                        help="a Python with torch and torchvision for the baseline (default: this one)")
    parser.add_argument("--no-torchvision", action="store_true", help="train jaxseg only")
    parser.add_argument("--data-root", type=Path, default=REPO.parent / "shared" / "data",
                        help="the folder holding the shared datasets (default ../shared/data)")
    parser.add_argument("--seed", type=int, default=0, help="the run's seed on both sides (config key seed)")
    parser.add_argument("--workdir", type=Path, help="keep the runs here (default: a temporary folder)")
    args = parser.parse_args(argv)
    if not (args.data_root / FOLDER).is_dir():
        sys.exit(f"{args.data_root / FOLDER}: no such folder (set --data-root to the folder holding {FOLDER})")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = (args.workdir or Path(tmp)) / f"{NAME}_seed{args.seed}"
        write(run(NAME, args.data_root, "reduced", None if args.no_torchvision else args.torch_python, workdir,
                  args.seed), None)


if __name__ == "__main__":
    main()
