"""Accuracy on the shared real data: jaxseg's shipped config beside a MONAI baseline and the seed's number.

For each labelled 2D dataset of ../shared/data (chest X-ray lungs, ISBI 2012 membranes, DSB 2018
nuclei, SEM axon and myelin), on the committed split (configs/splits/<dataset>_{test,val}.txt):
- jaxseg trains the dataset's config (in this process) and `jaxseg.evaluate` writes its predictions
  of the held-out images at their own size;
- MONAI (benchmarks/monai_baseline.py, run by `--monai-python`, a Python with torch and monai)
  trains a BasicUNet of the same widths (full: 31.1 M parameters against jaxseg's 31.0 M) with DiceCE
  and Adam (the config's learning rate and weight decay) on the same training images (the same
  normalisation, input size, batch, steps and the config's augmentation);
- both sets of predictions are scored by one implementation, `jaxseg.evaluate.case_metrics`
  (Dice, IoU, HD95 in the images' unit: px where the files give no pixel size, µm for the SEM
  images' sidecars; each class's Dice where there are several), plus the DSB 2018 mAP over IoU
  thresholds 0.5-0.95 of connected components for the nuclei.
Both sides evaluate the model after the last step (validation runs only then, so jaxseg's best
checkpoint is its last). `--reduced` (128 x 128 inputs, batch 4, 80 steps, and a quarter of the
widths: 16-256 channels, 1.9 M parameters on each side) fits ~10 minutes per dataset on 2 CPU
cores; the full settings are the configs' own (network, input size, batch 8, their steps).

The 3D experiments of seeds 000 and 004 have modules of their own (EXPERIMENTS):
brats_planes (benchmarks/accuracy_planes.py: per-plane 2D nets, their fusion and 3D blocks on BRATS,
MONAI on the axial plane), brats_propagation and totalseg_propagation (benchmarks/accuracy_propagation.py:
one-shot slice propagation, simulated corrections and a per-slice U-Net).

    python benchmarks/accuracy.py --reduced [--datasets cxr_lungs isbi_membranes dsb_nuclei axon_myelin ...]
        [--monai-python PATH] [--data-root ../shared/data] [--loss NAME] [--no-monai] [--seed N]
        [--monai-from RESULTS.json] [--variants main kayalibay_sum cross_entropy] [--folds N] [--learning-rate LR]
    python benchmarks/accuracy.py --reduced --datasets brats_planes brats_propagation totalseg_propagation
    python benchmarks/accuracy.py --reduced --table-only    # rewrite accuracy_reduced.md from the jsons

The 3D datasets (brats_3_cases, spinal_cord_mr, msd_spleen_crop) are run by benchmarks/accuracy_3d.py
(see there: their layouts, folds, ablations and settings); `--datasets` takes them as the 2D ones.
The lung boxes (`cxr_lung_boxes`, a detection task beside torchvision's Faster R-CNN, run by the
same --monai-python) are benchmarks/accuracy_boxes.py's; their records join the same table.

Writes benchmarks/results/accuracy/<dataset>_<settings>[_<tag>][_<loss>][_seed<n>].json per run and, from
every json there, accuracy_<settings>.md (the table the README shows; datasets without a run say so).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import scipy.ndimage as ndi
from accuracy_3d import DATASETS_3D, brats_folds_table, run_dataset_3d
from results_io import environment, markdown

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "accuracy"


@dataclasses.dataclass(frozen=True)
class Dataset:
    """One accuracy run: a shipped config on a shared data folder and its committed split."""

    config: str  # configs/NAME.py
    folder: str  # under the shared data root
    seed: str  # the seed's number or trend, and whether this data can reproduce it
    seed_iou: float | None = None  # the seed's IoU where it gives one
    instance_map: bool = False  # also score the DSB 2018 mAP of connected components
    distance_unit: tuple[str, float] | None = None  # (unit, per mm) for HD95 where the files' unit is not mm


DATASETS = {
    "cxr_lungs": Dataset(
        "cxr_lungs_unet", "cxr_lung_covid_hannover",
        "seed 002: lung U-Net 'IoU around 0.9' (1000 RSNA radiographs, 512^2, not available: 20 Hannover images here)",
        seed_iou=0.9),
    "isbi_membranes": Dataset(
        "isbi_membranes_unet", "isbi2012_em_membrane",
        "no seed number (seed 003 cites U-Net's ISBI 2012 warping error, not Dice; the challenge's test stack is "
        "not available)"),
    "dsb_nuclei": Dataset(
        "nuclei_unet", "dsb2018_nuclei",
        "seed 002: no nucleus number in the text (validation IoU only in a figure); 30 of the 670 stage1 "
        "images here", instance_map=True),
    "axon_myelin": Dataset(
        "axon_myelin_unet", "axondeepseg_sem_axon_myelin",
        "no seed number (not a seed task; AxonDeepSeg's own SEM model is trained on its full dataset)",
        distance_unit=("µm", 1000.0)),
}
# 3D experiments with a module of their own: name -> (module, shared folder); module.run(name, data_root,
# settings, monai_python, workdir, seed) returns the result record.
EXPERIMENTS = {
    "brats_planes": ("accuracy_planes", "brats2015_deepmedic_subset"),
    "brats_propagation": ("accuracy_propagation", "brats2015_deepmedic_subset"),
    "totalseg_propagation": ("accuracy_propagation", "totalseg_example_ct"),
    "cxr_lung_boxes": ("accuracy_boxes", "cxr_lung_covid_hannover"),  # beside torchvision, not MONAI
}
NOT_RUN = {  # A row each until the dataset has a run.
    "brats_3_cases": "seed 001 regions whole/core/enhancing, concat vs sum skips, Jaccard vs CE: not run (time)",
    "spinal_cord_mr": "one subject: not run (time)",
    "msd_spleen_crop": "one case: not run (time)",
}
SETTINGS = {  # Overrides of every config; None keeps the config's value.
    "reduced": {"slice_size": (128, 128), "batch_size": 4, "steps": 80, "base_features": 16},
    "full": {"slice_size": None, "batch_size": 8, "steps": None, "base_features": None},
}


def run_config(spec: Dataset, data_root: Path, settings: dict, loss: str | None = None,
               splits: Path = REPO / "configs" / "splits", extra: tuple[str, ...] = ()):
    """(config, override strings): the dataset's config on data_root/spec.folder with the split
    pinned by splits/<folder>_{test,val}.txt, the settings' input size, batch and steps (None keeps
    the config's), `loss` as loss.name, validation and a checkpoint at the last step only, and
    `extra` overrides last."""
    from jaxseg.config import load_config

    path = str(REPO / "configs" / f"{spec.config}.py")
    config = load_config(path)
    overrides = {
        "data.root": data_root / spec.folder,
        "data.test_cases": splits / f"{spec.folder}_test.txt",
        "data.val_cases": splits / f"{spec.folder}_val.txt",
        "data.batch_size": settings["batch_size"],
        "prepare.slice_size": settings["slice_size"] or config.prepare.slice_size,
        "train.steps": settings["steps"] or config.train.steps,
        "loss.name": loss or config.loss.name,
        **({"model.base_features": settings["base_features"]} if settings["base_features"] else {}),
    }
    overrides.update({"train.val_every": overrides["train.steps"], "train.checkpoint_every": overrides["train.steps"],
                      "train.log_every": max(1, overrides["train.steps"] // 4)})
    text = [f"{k}={tuple(v) if isinstance(v, (tuple, list)) else v}".replace(" ", "") for k, v in overrides.items()]
    return load_config(path, [*text, *extra]), [*text, *extra]


def pixel_spacing(volume) -> tuple[float, float]:
    """(row, column) spacing of a one-slice 2D volume, in the stored image's order (see
    jaxseg.io.image2d.volume_pixels: rows run along world y, columns along x)."""
    world_axes = nib.orientations.io_orientation(volume.affine)[:, 0].astype(int)
    spacing = dict(zip(world_axes, volume.spacing))
    return float(spacing[1]), float(spacing[0])


def score(prediction: np.ndarray, reference: np.ndarray, labels: dict[int, str], spacing: tuple[float, float],
          instances: np.ndarray | None = None) -> dict[str, float]:
    """Mean over foreground classes of jaxseg.evaluate.case_metrics' Dice, IoU and HD95 of (H, W)
    label maps (HD95 in the unit of `spacing`), each class's Dice ("Dice <name>") where there are
    several, and with `instances` (the reference instance map) the DSB 2018 mAP of the prediction's
    connected components."""
    from jaxseg.evaluate import case_metrics
    from jaxseg.metrics.detection import instance_map

    per_class = case_metrics(prediction[:, :, None], reference[:, :, None], labels, (*spacing, 1.0))
    values = {m: float(np.mean([c[m] for c in per_class.values()])) for m in ("Dice", "IoU", "HD95")}
    if len(per_class) > 1:
        values.update({f"Dice {name}": float(c["Dice"]) for name, c in per_class.items()})
    if instances is not None:
        values["mAP"] = instance_map(ndi.label(prediction > 0)[0], instances)
    return values


def mean_scores(per_case: dict[str, dict[str, float]]) -> dict[str, float]:
    """Each metric's mean over the cases."""
    metrics = next(iter(per_case.values())).keys()
    return {m: float(np.mean([case[m] for case in per_case.values()])) for m in metrics}


def steady_samples_per_s(metrics_log: Path, batch: int) -> float:
    """Samples/s of the logged windows after the first (which holds the compilation)."""
    records = [json.loads(line) for line in metrics_log.read_text().splitlines() if line.strip()]
    windows = [(b["step"] - a["step"], b["samples_per_s"]) for a, b in zip(records, records[1:])]
    return sum(n * batch for n, _ in windows) / sum(n * batch / rate for n, rate in windows)


def timed_fit(config, workdir: Path, progress: bool = False) -> dict:
    """Train in workdir; the final state, parameters, train_s and steady samples/s."""
    import jax

    from jaxseg.train.loop import fit

    tic = time.perf_counter()
    state = fit(config, workdir, progress=progress)
    return {"state": state, "train_s": time.perf_counter() - tic,
            "parameters": int(sum(x.size for x in jax.tree_util.tree_leaves(state.params))),
            "samples_per_s": steady_samples_per_s(workdir / "metrics.jsonl", config.data.batch_size)}


def train_jaxseg(config, workdir: Path) -> dict:
    """Train and evaluate the test split; per-case (H, W) predictions in the files' pixel order."""
    from jaxseg.evaluate import evaluate_runs
    from jaxseg.io.image2d import read_mask

    run = timed_fit(config, workdir, progress=True)
    run.pop("state")
    summary = evaluate_runs([workdir], "test", workdir / "eval", progress=False)
    predictions = {c["case_id"]: read_mask(c["prediction_file"]).array for c in summary["metric_per_case"]}
    return {**run, "predictions": predictions}


def export_cases(config, folder: Path) -> tuple[dict, list, list, dict]:
    """Write the split's images (normalised by jaxseg) and training labels for the MONAI script;
    return ({test case id: (reference (H, W), (row, column) spacing, label file, unit)}, train ids,
    test ids, {class value: name})."""
    from jaxseg.data.datasets import load_cases, open_dataset
    from jaxseg.io.image2d import volume_pixels

    index, splits = open_dataset(config, folder)
    (folder / "cases").mkdir(parents=True, exist_ok=True)
    references = {}
    for split in ("train", "test"):
        for case in load_cases(splits[split], config, index):
            image = volume_pixels(case.image).astype(np.float32)
            np.save(folder / "cases" / f"{case.case_id}_image.npy", image.reshape(*image.shape[:2], -1))
            label = volume_pixels(case.label).astype(np.uint8)
            if split == "train":
                np.save(folder / "cases" / f"{case.case_id}_label.npy", label)
            else:
                references[case.case_id] = (label, pixel_spacing(case.label), case.label.source, case.spacing_unit)
    return references, [c.case_id for c in splits["train"]], [c.case_id for c in splits["test"]], index.labels


def input_size(config, folder: Path, train: list) -> list[int]:
    """The (H, W) both frameworks train at: prepare.slice_size, else the images' own size (ISBI)."""
    return list(config.prepare.slice_size) or list(np.load(folder / "cases" / f"{train[0]}_image.npy").shape[:2])


def monai_features(config) -> list[int]:
    """BasicUNet widths matching the U-Net's levels (base, 2x ... 16x base; last: the up path's
    top width): for the preset's base 64, 31,112,130 parameters against jaxseg's 31,036,481."""
    base = config.model.base_features or 64  # unet2d_sigmoid's level-0 width.
    return [base, 2 * base, 4 * base, 8 * base, 16 * base, base]


def train_monai(config, folder: Path, train: list, test: list, python: str) -> dict:
    """Run benchmarks/monai_baseline.py on the exported cases; its result.json and predictions."""
    settings = {
        "input_size": input_size(config, folder, train), "batch_size": config.data.batch_size,
        "steps": config.train.steps, "learning_rate": config.optimizer.learning_rate,
        "weight_decay": config.optimizer.weight_decay, "num_classes": max(config.model.num_classes, 2),
        "in_channels": config.model.in_channels, "features": monai_features(config), "seed": config.seed,
        "augment": {k: float(config.augment[k]) for k in ("flip_p", "rot90_p", "elastic_p", "elastic_sigma",
                                                          "elastic_alpha")},
        "train": train, "test": test,
    }
    (folder / "settings.json").write_text(json.dumps(settings, indent=2))
    subprocess.run([python, str(REPO / "benchmarks" / "monai_baseline.py"), str(folder)], check=True)
    result = json.loads((folder / "result.json").read_text())
    result["predictions"] = {c: np.load(folder / "predictions" / f"{c}.npy") for c in test}
    return result


def monai_available(python: str) -> str | None:
    """None when `python` imports torch and monai, else why not."""
    try:
        done = subprocess.run([python, "-c", "import torch, monai"], capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"{python}: {err}"
    return None if done.returncode == 0 else f"{python} cannot import torch and monai (the bench extra)"


def run_dataset(name: str, spec: Dataset, data_root: Path, settings: str, monai_python: str | None, loss: str | None,
                workdir: Path, splits: Path = REPO / "configs" / "splits", extra: tuple[str, ...] = ()) -> dict:
    """Train and score both frameworks on one dataset (settings: a key of SETTINGS); the result
    record (means and per-case scores of each side, timings, the overrides used)."""
    config, overrides = run_config(spec, data_root, SETTINGS[settings], loss, splits, extra)
    references, train, test, labels = export_cases(config, workdir / "monai")
    instances = {c: read_instances(ref[2]) if spec.instance_map else None for c, ref in references.items()}
    references = in_unit(references, spec.distance_unit)
    sides = {"jaxseg": train_jaxseg(config, workdir / "jaxseg")}
    why_not = monai_available(monai_python) if monai_python else "--no-monai (a jaxseg recipe trial)"
    if why_not is None:
        sides["monai"] = train_monai(config, workdir / "monai", train, test, monai_python)
    units = sorted({ref[3] for ref in references.values()})
    result = {"dataset": name, "folder": spec.folder, "config": f"configs/{spec.config}.py", "settings": settings,
              "overrides": overrides, "train_cases": len(train), "test_cases": test, "seed": spec.seed,
              "seed_iou": spec.seed_iou, "hd95_unit": "/".join(units), "steps": config.train.steps,
              "batch_size": config.data.batch_size, "input_size": input_size(config, workdir / "monai", train),
              "loss": config.loss.name, "run_seed": config.seed,
              "monai": None if why_not is None else f"not run: {why_not}"}
    for side, out in sides.items():
        per_case = {c: score(out["predictions"][c], ref[0], labels, ref[1], instances[c])
                    for c, ref in references.items()}
        result[side] = {"mean": mean_scores(per_case), "per_case": per_case,
                        **{k: v for k, v in out.items() if k != "predictions"}}
    return result


def in_unit(references: dict, distance_unit: tuple[str, float] | None) -> dict:
    """export_cases' references with the spacing of those in mm (jaxseg reads a file's pixel size
    in mm) scaled to distance_unit (unit, per mm); all of them unchanged without one."""
    if distance_unit is None:
        return references
    unit, per_mm = distance_unit
    return {c: (ref[0], tuple(per_mm * s for s in ref[1]), ref[2], unit) if ref[3] == "mm" else ref
            for c, ref in references.items()}


def reuse_monai(result: dict, earlier: dict, source: str) -> dict:
    """`result` with the MONAI side of `earlier`, a record of the same dataset, settings, split and
    seed: the MONAI script sees the exported images, the settings and the seed, not jaxseg's
    network or loss, so a jaxseg recipe change (the config's model or loss keys, not its
    normalisation, augmentation or optimiser) leaves it as it was. ValueError naming what differs."""
    keys = ("dataset", "settings", "steps", "batch_size", "input_size", "train_cases", "test_cases")
    differ = [k for k in keys if result[k] != earlier[k]]
    differ += ["run_seed"] if result.get("run_seed", 0) != earlier.get("run_seed", 0) else []
    if differ or not isinstance(earlier.get("monai"), dict):
        raise ValueError(f"{source}: no MONAI side of the same run to reuse (differs: {differ or 'monai'})")
    return {**result, "monai": earlier["monai"], "monai_from": source}


def read_instances(label_file: str) -> np.ndarray:
    """The (H, W) instance map of a nuclei label file (0 background, n the n-th nucleus)."""
    from jaxseg.io.image2d import read_mask

    return read_mask(label_file).array


def table(results: list[dict]) -> str:
    """Markdown: a row per framework and run, then the datasets without a run and why."""
    header = ["dataset", "settings", "framework", "loss", "Dice", "IoU", "HD95", "mAP", "AP@0.5",
              "steps x batch @ size", "train s", "samples/s", "load", "seed", "reproduced"]
    rows = []
    for r in results:
        # torchvision: the detection baseline. The experiments of seeds 000 and 004 add "variants" (planes,
        # fusions, propagation with corrections) rendered as jaxseg rows after the main one; a variant may
        # carry only some metrics and no timing.
        sides = [(side, r.get("labels", {}).get(side, side), r.get(side))
                 for side in ("jaxseg", "monai", "torchvision")]
        sides += [("jaxseg", f"jaxseg {name}", v) for name, v in r.get("variants", {}).items()]
        for side, label, s in sides:
            if not isinstance(s, dict):
                continue
            m = s["mean"]
            seed_note = reproduced = ""
            if side == "jaxseg" and r.get("seed_iou") is not None:
                seed_note = f"IoU ~{r['seed_iou']}"
                reproduced = "yes" if m["IoU"] >= r["seed_iou"] - 0.02 else "no"
            if side == "jaxseg" and r.get("seed_regions"):  # BraTS whole/core/enhancing Dice
                seed_note = "w/c/e Dice " + "/".join(f"{v:.2f}" for v in r["seed_regions"])
                ours = [m[region] for region in ("whole", "core", "enhancing")]
                reproduced = ("ours " + "/".join(f"{v:.2f}" for v in ours) + ": "
                              + ("yes" if all(o >= t - 0.02 for o, t in zip(ours, r["seed_regions"])) else "no"))
            if label == r.get("labels", {}).get("jaxseg"):
                seed_note, reproduced = r.get("seed_note", ""), r.get("reproduced", "")
            settings = r["settings"] + (f" (seed {r['run_seed']})" if r.get("run_seed") else "")
            settings += f", {r['variant']}" if r.get("variant") else ""
            size = r["input_size"]
            size = size if isinstance(size, str) else f"{size[0]}^2" if len(size) == 2 else "x".join(map(str, size))
            hd95 = f"{m['HD95']:.3g} {r['hd95_unit']}" if "HD95" in m else None
            loss = s.get("loss", r["loss"]) + (f" ({r['recipe']})" if r.get("recipe") else "") if side == "jaxseg" \
                else r.get("baseline_loss", "dice_ce")  # recipe: how an earlier config or a trial differed
            framework = f"{label} (from {r['monai_from']})" if side == "monai" and r.get("monai_from") else label
            # load: the machine's 15-minute load average when the record was written (2 cores: above ~2,
            # other work shared them and the times are inflated by about load / 2).
            load = f"{r['environment']['load_average'][2]:.1f}" if "environment" in r else ""
            timing = [round(s["train_s"], 1), s["samples_per_s"], load] if "train_s" in s else ["", "", ""]
            rows.append([r["dataset"], settings, framework, loss, m.get("Dice"), m.get("IoU"), hd95, m.get("mAP"),
                         m.get("AP50"), s.get("size") or f"{r['steps']} x {r['batch_size']} @ {size}", *timing,
                         seed_note, reproduced])
    done = {r["dataset"] for r in results}
    empty = [""] * 13
    rows += [[name, *empty, "not run (time)"] for name in (*DATASETS, *DATASETS_3D, *EXPERIMENTS)
             if name not in done and name not in NOT_RUN]
    rows += [[name, *empty, why] for name, why in NOT_RUN.items() if name not in done]
    return markdown(header, rows)


def notes(results: list[dict]) -> str:
    """Markdown below the table: what --reduced changed per 3D dataset, what each one tests, and
    the BraTS Dice per test subject."""
    lines = [f"- {r['dataset']}: {r['seed']}" + (f"; reduced: {r['reduced_note']}" if r.get("reduced_note") else "")
             for r in {r["dataset"]: r for r in results if r["dataset"] in DATASETS_3D}.values()]
    folds = brats_folds_table(results)
    return "\n".join(lines) + ("\n\nBraTS Dice per test subject (the ablations ran on the first fold):\n\n" + folds
                               if folds else "")


def write(result: dict, loss: str | None, folder: Path = RESULTS) -> Path:
    """folder/<dataset>_<settings>[_<tag>][_<loss>][_seed<n>].json (tag: a 3D run's variant), and
    accuracy_<settings>.md from every run there."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{result['dataset']}_{result['settings']}" + (f"_{result['tag']}" if result.get("tag") else "")
    stem += (f"_{loss}" if loss else "") + (f"_seed{result['run_seed']}" if result.get("run_seed") else "")
    (folder / f"{stem}.json").write_text(json.dumps({"environment": environment(), **result}, indent=2) + "\n")
    print(f"wrote {folder / stem}.json")
    return write_table(result["settings"], folder)


def suite_runs(named: dict[str, dict], settings: str) -> list[dict]:
    """The records of `named` ({json stem: record}) that the suite's own command wrote: no --loss
    or recipe trial, no ablation (the stems <dataset>_<settings>[_seed<n>])."""
    return [r for stem, r in named.items()
            if stem == f"{r['dataset']}_{settings}" + (f"_seed{r['run_seed']}" if r.get("run_seed") else "")]


def versus_baseline(suite: list[dict]) -> str:
    """Markdown: per dataset and seed, jaxseg's score beside the baseline's (MONAI, or torchvision for
    the boxes) and jaxseg minus baseline: mean Dice over the foreground classes (AP@0.5 for boxes)."""
    rows = []
    for r in sorted(suite, key=lambda r: (r["dataset"], r.get("run_seed", 0))):
        side = "torchvision" if r.get("task") == "detection" else "monai"
        if not isinstance(r.get(side), dict):
            continue
        metric = "AP50" if side == "torchvision" else "Dice"
        ours, theirs = r["jaxseg"]["mean"][metric], r[side]["mean"][metric]
        rows.append([r["dataset"], r.get("run_seed", 0), r.get("labels", {}).get("jaxseg", "jaxseg"),
                     "AP@0.5" if metric == "AP50" else "Dice", round(ours, 3), side, round(theirs, 3),
                     f"{ours - theirs:+.3f}"])
    header = ["dataset", "seed", "jaxseg run", "metric", "jaxseg", "baseline", "baseline's", "jaxseg - baseline"]
    return markdown(header, rows) if rows else ""


def write_table(settings: str, folder: Path = RESULTS) -> Path:
    """folder/accuracy_<settings>.md from every json of those settings there: every run, then the
    suite's own runs against their baselines, then the notes."""
    named = {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob(f"*_{settings}*.json"))}
    named = {stem: r for stem, r in named.items() if r["settings"] == settings}
    runs = list(named.values())
    parts = [table(runs)]
    versus = versus_baseline(suite_runs(named, settings))
    if versus:
        parts.append("The suite's own runs (its settings and recipes; no --loss trial, no ablation) against their "
                     "baselines:\n\n" + versus)
    extra = notes(runs)
    (folder / f"accuracy_{settings}.md").write_text("\n\n".join(parts) + "\n" + (f"\n{extra}\n" if extra else ""))
    print(f"wrote {folder / f'accuracy_{settings}.md'}")
    return folder / f"accuracy_{settings}.md"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reduced", action="store_true",
                        help="2D: 128^2 inputs, batch 4, 80 steps, 16-256 channels; 3D: see accuracy_3d.py, "
                             "accuracy_planes.py, accuracy_propagation.py (CPU)")
    parser.add_argument("--datasets", nargs="+", choices=sorted({*DATASETS, *DATASETS_3D, *EXPERIMENTS}),
                        default=[*DATASETS, *DATASETS_3D, *EXPERIMENTS])
    parser.add_argument("--monai-python", default=sys.executable,
                        help="a Python with torch and monai for the MONAI side (default: this one)")
    parser.add_argument("--data-root", type=Path, default=REPO.parent / "shared" / "data",
                        help="the folder holding the shared datasets (default ../shared/data)")
    parser.add_argument("--loss", help="jaxseg's loss.name instead of the config's (a recipe trial)")
    parser.add_argument("--seed", type=int, default=0, help="the run's seed on both sides (config key seed)")
    parser.add_argument("--no-monai", action="store_true", help="train jaxseg only (with --loss: a recipe trial)")
    parser.add_argument("--workdir", type=Path, help="keep the runs here (default: a temporary folder)")
    parser.add_argument("--monai-from", type=Path,
                        help="a results json of the same dataset, settings and seed whose MONAI side is reused "
                             "(after a change of jaxseg's network or loss only)")
    parser.add_argument("--variants", nargs="+", default=(),
                        help="3D datasets: only these runs ('main' for the folds, or an ablation's tag)")
    parser.add_argument("--folds", type=int, help="3D datasets: only the first N folds (default all)")
    parser.add_argument("--learning-rate", type=float,
                        help="the 3D experiments' learning rate instead of the seed's (a recipe trial)")
    parser.add_argument("--table-only", action="store_true", help="only rewrite accuracy_<settings>.md from the jsons")
    args = parser.parse_args(argv)
    settings = "reduced" if args.reduced else "full"
    if args.table_only:
        write_table(settings)
        return
    monai_python = None if args.no_monai else args.monai_python
    for name in args.datasets:
        spec = DATASETS.get(name) or DATASETS_3D.get(name)
        folder = args.data_root / (EXPERIMENTS[name][1] if name in EXPERIMENTS else spec.folder)
        if not folder.is_dir():
            sys.exit(f"{folder}: no such folder (set --data-root to the folder holding {folder.name})")
        with tempfile.TemporaryDirectory() as tmp:
            workdir = (args.workdir or Path(tmp)) / f"{name}_{settings}_seed{args.seed}"
            if name in DATASETS_3D:  # Folds and ablations: a record per variant.
                why_not = monai_available(monai_python) if monai_python else "--no-monai"
                extra = (f"seed={args.seed}", *((f"loss.name={args.loss}",) if args.loss else ()))
                for result in run_dataset_3d(name, spec, args.data_root, settings, None if why_not else monai_python,
                                             workdir, why_not, extra, tuple(args.variants), args.folds):
                    write(result, args.loss)
                continue
            if name in EXPERIMENTS:
                module = importlib.import_module(EXPERIMENTS[name][0])
                trial = {"learning_rate": args.learning_rate} if args.learning_rate else {}
                trial.update({"loss": args.loss} if args.loss else {})
                result = module.run(name, args.data_root, settings, monai_python, workdir, args.seed, **trial)
                write(result, args.loss or result.get("recipe"))
                continue
            result = run_dataset(name, spec, args.data_root, settings, None if args.monai_from else monai_python,
                                 args.loss, workdir, extra=(f"seed={args.seed}",))
            if args.monai_from:
                result = reuse_monai(result, json.loads(args.monai_from.read_text()), args.monai_from.name)
            write(result, args.loss)


if __name__ == "__main__":
    main()
