"""`jaxseg evaluate`: checkpoint(s) -> the task's evaluation; for label maps (segmentation,
propagation) the per-case metrics and report files of `evaluate_label_maps`."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import ml_collections
import numpy as np
from tqdm.auto import tqdm

from jaxseg.config import ConfigError
from jaxseg.data.cases import LoadedCase
from jaxseg.data.datasets import load_cases, open_dataset, read_index
from jaxseg.io import Volume, prediction_suffix, write_label_map
from jaxseg.io.atomic import atomic_path, write_text_atomic
from jaxseg.io.dicom_seg_write import write_dicom_seg
from jaxseg.io.paths import inside
from jaxseg.metrics import (
    average_surface_distance,
    hausdorff_distance,
    markdown_table,
    per_class_overlap,
    statistics_table,
    summarize,
    to_csv,
)
from jaxseg.report import overlay_figure
from jaxseg.tasks import Restored, get_task
from jaxseg.train.restore import restore

log = logging.getLogger(__name__)

PREDICTION_FORMATS = ("label-map", "dicom-seg")  # evaluate --format: how predictions/<case> is written


def _most_foreground_slice(label: np.ndarray, axis: int) -> int:
    counts = np.count_nonzero(np.moveaxis(label, axis, 0).reshape(label.shape[axis], -1), axis=1)
    return int(counts.argmax())


def case_metrics(prediction: np.ndarray, reference: np.ndarray, labels: dict[int, str],
                 spacing: tuple[float, ...]) -> dict[str, dict[str, float]]:
    """Per foreground class: Dice, IoU, HD95 and ASSD (in the unit of `spacing`; inf when exactly one
    mask is empty).

    prediction, reference: (I, J, K) label maps; spacing: (3,) per axis. A one-slice volume (a 2D
    image) is measured in its plane: on the one-voxel-thick volume every voxel would be surface.
    """
    metrics = per_class_overlap(prediction, reference, labels)
    flat = [axis for axis, size in enumerate(reference.shape) if size == 1]
    if flat and len(flat) < reference.ndim:
        prediction, reference = prediction.squeeze(tuple(flat)), reference.squeeze(tuple(flat))
        spacing = tuple(s for axis, s in enumerate(spacing) if axis not in flat)
    for value, name in labels.items():
        if value:
            pred, true = prediction == value, reference == value
            metrics[name]["HD95"] = hausdorff_distance(pred, true, spacing, percentile=95)
            metrics[name]["ASSD"] = average_surface_distance(pred, true, spacing)
    return metrics


def dataset_cases(config: ml_collections.ConfigDict, workdir: Path, split: str, data: str | Path | None,
                  same_classes: bool = True) -> tuple:
    """(index, cases, split name) to evaluate: a split of the run's dataset, or with `data` every
    labelled case of that folder, after checking its channels (and with `same_classes` its classes)
    against the run's."""
    if data is None:
        index, splits = open_dataset(config, workdir, same_classes)
        if not splits[split]:
            raise ValueError(f"split '{split}' of {index.root} has no cases")
        return index, splits[split], split
    index = read_index(config, workdir)
    if same_classes and index.num_classes != config.model.num_classes:
        raise ConfigError(f"dataset {index.root} has {index.num_classes} classes {index.labels}; the run's model "
                          f"predicts {config.model.num_classes}")
    if len(index.channels) != config.model.in_channels:
        raise ConfigError(f"dataset {index.root} has {len(index.channels)} image channel(s) {index.channels}; the "
                          f"run's model takes {config.model.in_channels}")
    return index, index.cases, "all"


def evaluate_runs(runs: Sequence[str | Path], split: str = "test", out: str | Path | None = None,
                  progress: bool = True, overrides: Sequence[str] = (), data: str | Path | None = None,
                  prediction_format: str = "label-map") -> dict:
    """Evaluate one run's checkpoint, or the fusion of several, with the task of the config saved
    with it (`Task.evaluate`), on a split of the first run's dataset or on every labelled case of
    another dataset folder `data` (the run's preprocessing; summary "split" = "all").

    runs: run folders (their best checkpoint), checkpoints folders or step folders; overrides:
    KEY=VALUE changes of the keys the task allows after training; prediction_format: "label-map",
    or "dicom-seg" for label maps written as DICOM SEGs (`evaluate_label_maps`). Writes the task's
    report to `out` (default RUN/eval) and returns its summary.
    """
    if prediction_format not in PREDICTION_FORMATS:
        raise ValueError(f"prediction format {prediction_format!r}: choose {' or '.join(PREDICTION_FORMATS)}")
    restored = [restore(run, overrides=overrides, data=data) for run in runs]
    tasks = sorted({r.config.task for r in restored})
    if len(tasks) > 1:
        raise ValueError(f"runs of different tasks ({', '.join(tasks)}) cannot be evaluated together")
    workdir = Path(runs[0]) if (Path(runs[0]) / "checkpoints").is_dir() else Path(runs[0]).parent
    return get_task(tasks[0]).evaluate(restored, workdir, split, Path(out) if out else workdir / "eval", data, progress,
                                       prediction_format)


def evaluate_label_maps(restored: Sequence[Restored], workdir: Path, split: str, out: Path, data: str | Path | None,
                        progress: bool, predict: Callable[[LoadedCase], np.ndarray],
                        labels: dict[int, str] | None = None, same_classes: bool = True,
                        extra: Callable[[Path], dict] | None = None, prediction_format: str = "label-map") -> dict:
    """The report of label-map predictions: predict(case) -> labels (I, J, K) uint8 for each case of
    the split (`dataset_cases`), measured against its reference for `labels` (default the dataset's).

    Writes to `out`: summary.json (nnU-Net-like: metric_per_case, mean per class, foreground_mean;
    Dice, IoU, HD95 and ASSD, inf written as Infinity; `distance_unit`: mm, or px for 2D images
    whose files give no pixel size; 2D images are measured in 2D; n_cases in the means, n_failed
    and failed_cases: each case that could not be read or predicted, with its file and the reason),
    per_case.csv, summary.md (per-case Dice table and the mean, std, min, quartiles and max of
    Dice per class), overlays.png (best, median and worst cases by mean Dice) and
    predictions/<case>.nii.gz in each image's geometry (predictions/<case>.png, the image's size,
    for 2D images). extra(out) -> sections the task adds to summary.json (after the predictions).
    Every report file is written atomically (a failed write leaves the previous one), summary.json
    last. A split without cases, or none readable, raises ValueError before anything is written.
    """
    first_config = restored[0].config
    index, evaluated, split = dataset_cases(first_config, workdir, split, data, same_classes)
    labels = labels if labels is not None else index.labels
    if prediction_format == "dicom-seg" and first_config.data.source != "dicom_folders":
        raise ValueError(f"DICOM SEG predictions reference a DICOM series: the dataset {index.root} is "
                         f"data.source = {first_config.data.source}, not dicom_folders")
    failed: list[dict] = []
    loaded = load_cases(evaluated, first_config, index, failed, f"'{split}' cases")
    per_case, cases = [], {}
    for case in tqdm(loaded, desc=f"evaluate {split}", disable=not progress):
        try:
            prediction = predict(case)
        except (ValueError, RuntimeError, MemoryError) as err:  # XLA's out-of-memory is a RuntimeError.
            log.error("case %s not evaluated: %s", case.case_id, err)
            failed.append({"case_id": case.case_id, "file": case.image.source,
                           "reason": f"prediction failed ({type(err).__name__}: {err})"})
            continue
        suffix = ".dcm" if prediction_format == "dicom-seg" else prediction_suffix(case.image.source)
        written = inside(out / "predictions", f"{case.case_id}{suffix}", case.image.source, "case id")
        if prediction_format == "dicom-seg":
            written = write_dicom_seg(Volume(prediction, case.image.affine), case.image.source, written, labels,
                                      restored[0].step)
        else:
            written = write_label_map(Volume(prediction, case.image.affine), written, case.image.source, labels)
        per_case.append({
            "case_id": case.case_id,
            "reference_file": case.label.source,
            "prediction_file": str(written),
            "metrics": case_metrics(prediction, case.label.array, labels, case.label.spacing),
            "distance_unit": case.spacing_unit,
        })
        cases[case.case_id] = (case, prediction)
    if not per_case:
        raise ValueError(f"no case of split '{split}' of {index.root} could be evaluated: "
                         + "; ".join(f"{f['case_id']} ({f['file']}: {f['reason']})" for f in failed))
    units = sorted({case["distance_unit"] for case in per_case})
    unit = units[0] if len(units) == 1 else f"mixed ({', '.join(units)}): see each case"
    summary = {"task": first_config.task, "checkpoints": [str(r.checkpoint) for r in restored], "split": split,
               "distance_unit": unit,
               **summarize(per_case, failed)}
    if extra is not None:
        summary.update(extra(out))
    steps = ", ".join(str(r.step) for r in restored)
    dice_by_class = {c: [case["metrics"][c]["Dice"] for case in per_case] for c in summary["mean"]}
    write_text_atomic(out / "summary.md",
                      f"# Dice per case ({split} split, checkpoint step {steps})\n\n{markdown_table(summary)}\n\n"
                      f"Surface distances (HD95, ASSD in summary.json and per_case.csv) are in {unit}.\n\n"
                      f"## Dice over {len(per_case)} cases\n\n{statistics_table(dice_by_class)}\n")
    write_text_atomic(out / "per_case.csv", to_csv(summary))
    _write_overlays(out / "overlays.png", per_case, cases, first_config, index.labels)
    write_text_atomic(out / "summary.json", json.dumps(summary, indent=2))
    return summary


def _write_overlays(path: Path, per_case: list[dict], cases: dict, config, labels: dict[int, str]) -> None:
    """Best, median and worst cases by mean foreground Dice (fewer when there are fewer cases)."""
    if not per_case or config.evaluate.overlay_cases == 0:
        return
    ranked = sorted(per_case, key=lambda c: np.mean([m["Dice"] for m in c["metrics"].values()]))
    picks = {"worst": ranked[0], "median": ranked[len(ranked) // 2], "best": ranked[-1]}
    rows, seen = [], set()
    for tag, entry in list(picks.items())[: config.evaluate.overlay_cases]:
        if entry["case_id"] in seen:
            continue
        seen.add(entry["case_id"])
        case, prediction = cases[entry["case_id"]]
        axis = case.image.plane_axis("axial")
        k = _most_foreground_slice(case.label.array, axis)
        take = lambda a: np.take(a, k, axis=axis)  # noqa: E731
        image = case.image.array if case.image.array.ndim == 3 else case.image.array.mean(axis=-1)  # Colour: grey.
        rows.append((f"{tag} {case.case_id}", take(image), take(case.label.array), take(prediction)))
    with atomic_path(path) as tmp:
        overlay_figure(tmp, rows, [labels[i] for i in sorted(labels)])
