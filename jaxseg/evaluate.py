"""Checkpoint(s) -> whole-volume predictions -> per-case metrics -> report files.

Several runs (for example 2D models trained on the axial, coronal and sagittal planes) can be
evaluated together: their class probabilities are averaged before the arg-max (seed 000's
multi-plane fusion).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import ml_collections
import numpy as np
from tqdm.auto import tqdm

from jaxseg.config import ConfigError, apply_override, validate
from jaxseg.data.datasets import load_cases, open_dataset, read_index
from jaxseg.evaluate_propagation import PropagationEvaluation
from jaxseg.inference import average_probabilities
from jaxseg.inference.segment import label_map
from jaxseg.io import Volume, prediction_suffix, write_label_map
from jaxseg.io.dicom_seg_write import write_dicom_seg
from jaxseg.io.atomic import atomic_path, write_text_atomic
from jaxseg.io.paths import inside
from jaxseg.models import model_head
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
from jaxseg.train.build import restore_checkpoint
from jaxseg.train.validation import segment_case

log = logging.getLogger(__name__)


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


def checkpoint_location(run: str | Path) -> tuple[Path, str | int]:
    """(checkpoints folder, "best" or a step) for a run folder, a checkpoints folder or a step folder."""
    run = Path(run)
    if (run / "checkpoints").is_dir():
        return run / "checkpoints", "best"
    if run.name.isdigit():
        return run.parent, int(run.name)
    return run, "best"


AFTER_TRAINING = ("inference.", "evaluate.", "propagation.")
# With `data`: the keys that describe another dataset's files (its preprocessing stays the run's).
DATASET_KEYS = ("data.source=", "layout.")


def restore_for_inference(run: str | Path, overrides: Sequence[str] = (), data: str | Path | None = None):
    """(config, state, step, mesh) of a run's checkpoint, with `inference.*`/`evaluate.*`/`propagation.*` overrides
    applied to the config saved with it (other sections describe how the model was trained).

    data: another dataset folder to read (data.root); `data.source` and `layout.*` may then be
    overridden too. A phantom run reads it as the Decathlon layout its phantoms were written in.
    """
    config, state, step, mesh = restore_checkpoint(*checkpoint_location(run))
    allowed = AFTER_TRAINING + (DATASET_KEYS if data is not None else ())
    if data is not None:
        config.data.root = str(data)
        config.data.source = "msd" if config.data.source == "phantom" else config.data.source
    for override in overrides:
        if not override.startswith(allowed):
            raise ConfigError(f"override '{override}': only inference.*, evaluate.* and propagation.* keys can "
                              "change after training (and data.source and layout.* with --data)")
        apply_override(config, override)
    validate(config)
    return config, state, step, mesh


def dataset_cases(config: ml_collections.ConfigDict, workdir: Path, split: str, data: str | Path | None) -> tuple:
    """(index, cases, split name) to evaluate: a split of the run's dataset, or with `data` every
    labelled case of that folder, after checking its classes and channels against the run's."""
    if data is None:
        index, splits = open_dataset(config, workdir)
        if not splits[split]:
            raise ValueError(f"split '{split}' of {index.root} has no cases")
        return index, splits[split], split
    index = read_index(config, workdir)
    if config.data.sampler != "pairs" and index.num_classes != config.model.num_classes:  # Pairs: one organ at a time.
        raise ConfigError(f"dataset {index.root} has {index.num_classes} classes {index.labels}; the run's model "
                          f"predicts {config.model.num_classes}")
    if len(index.channels) != config.model.in_channels:
        raise ConfigError(f"dataset {index.root} has {len(index.channels)} image channel(s) {index.channels}; the "
                          f"run's model takes {config.model.in_channels}")
    return index, index.cases, "all"


def evaluate_runs(runs: Sequence[str | Path], split: str = "test", out: str | Path | None = None,
                  progress: bool = True, overrides: Sequence[str] = (), data: str | Path | None = None,
                  prediction_format: str = "label-map") -> dict:
    """Evaluate one run's checkpoint, or the fusion of several, on a split of the first run's dataset,
    or on every labelled case of another dataset folder `data` (any layout `data.source` reads;
    the run's preprocessing; its classes and channels must be the run's; summary "split" = "all").

    runs: run folders (their best checkpoint), checkpoints folders or step folders.
    Writes to `out` (default RUN/eval): summary.json (nnU-Net-like: metric_per_case, mean per
    class, foreground_mean; Dice, IoU, HD95 and ASSD, inf written as Infinity; `distance_unit`: mm,
    or px for 2D images whose files give no pixel size; 2D images are measured in 2D; n_cases in
    the means, n_failed and failed_cases: each case that could not be read or predicted, with its
    file and the reason), per_case.csv,
    summary.md (per-case Dice table and the mean, std, min, quartiles and max of Dice per class),
    overlays.png (best, median and worst cases by mean Dice) and predictions/<case>.nii.gz in
    each image's geometry (predictions/<case>.png, the image's size, for 2D images). Every report
    file is written atomically (a failed write leaves the previous one), summary.json last. A split
    without cases, or none readable, raises ValueError before anything is written.
    prediction_format "dicom-seg" writes predictions/<case>.dcm instead: a DICOM SEG referencing the
    case's series (`write_dicom_seg`; a dataset of DICOM series, data.source = dicom_folders).

    A slice-propagation run (data.sampler = pairs) is evaluated by `PropagationEvaluation`: its
    predictions are the one-shot masks of the evaluated organs, its metrics cover those organs,
    and summary.json gains a "propagation" section (simulated-correction curves per case and
    organ, mean curves) written also as propagation.csv and propagation.png.
    """
    from jaxseg.evaluate_detection import evaluate_detection_run, is_detection_run

    if prediction_format not in ("label-map", "dicom-seg"):
        raise ValueError(f"prediction format {prediction_format!r}: choose label-map or dicom-seg")
    if is_detection_run(checkpoint_location(runs[0])[0]):
        if len(runs) > 1:
            raise ValueError("detection runs are evaluated one at a time (no fusion)")
        workdir = Path(runs[0]) if (Path(runs[0]) / "checkpoints").is_dir() else Path(runs[0]).parent
        if data is not None:
            raise ValueError("--data is for segmentation runs: a detection run is evaluated on its own dataset")
        return evaluate_detection_run(*checkpoint_location(runs[0]), workdir, split, out, overrides)
    restored = [restore_for_inference(run, overrides, data) for run in runs]
    first_config = restored[0][0]
    workdir = Path(runs[0]) if (Path(runs[0]) / "checkpoints").is_dir() else Path(runs[0]).parent
    out = Path(out) if out else workdir / "eval"
    index, evaluated, split = dataset_cases(first_config, workdir, split, data)
    if prediction_format == "dicom-seg" and first_config.data.source != "dicom_folders":
        raise ValueError(f"DICOM SEG predictions reference a DICOM series: the dataset {index.root} is "
                         f"data.source = {first_config.data.source}, not dicom_folders")
    failed: list[dict] = []
    loaded = load_cases(evaluated, first_config, index, failed, f"'{split}' cases")
    per_case, cases = [], {}
    propagation, predict, labels = None, lambda case: _fused_prediction(restored, case), index.labels
    if first_config.data.sampler == "pairs":
        if len(restored) > 1:
            raise ValueError("slice-propagation runs are evaluated one at a time: give a single run")
        propagation = PropagationEvaluation(*restored[0][:2], index.labels)
        predict, labels = propagation.predict, propagation.labels
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
                                      restored[0][2])
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
    checkpoints = [str(checkpoint_location(run)[0] / str(step)) for run, (*_, step, _) in zip(runs, restored)]
    if not per_case:
        raise ValueError(f"no case of split '{split}' of {index.root} could be evaluated: "
                         + "; ".join(f"{f['case_id']} ({f['file']}: {f['reason']})" for f in failed))
    units = sorted({case["distance_unit"] for case in per_case})
    unit = units[0] if len(units) == 1 else f"mixed ({', '.join(units)}): see each case"
    summary = {"checkpoints": checkpoints, "split": split, "distance_unit": unit, **summarize(per_case, failed)}
    if propagation:
        summary["propagation"] = propagation.report(out)
    steps = ", ".join(str(step) for *_, step, _ in restored)
    dice_by_class = {c: [case["metrics"][c]["Dice"] for case in per_case] for c in summary["mean"]}
    write_text_atomic(out / "summary.md",
                      f"# Dice per case ({split} split, checkpoint step {steps})\n\n{markdown_table(summary)}\n\n"
                      f"Surface distances (HD95, ASSD in summary.json and per_case.csv) are in {unit}.\n\n"
                      f"## Dice over {len(per_case)} cases\n\n{statistics_table(dice_by_class)}\n")
    write_text_atomic(out / "per_case.csv", to_csv(summary))
    _write_overlays(out / "overlays.png", per_case, cases, first_config, index.labels)
    write_text_atomic(out / "summary.json", json.dumps(summary, indent=2))
    return summary


def _fused_prediction(restored: list, case) -> np.ndarray:
    """Label map of a case from the mean class probabilities of the restored runs' whole-volume predictions."""
    probabilities = [segment_case(state, case.image, config, mesh, case.pad_value)[1]
                     for config, state, _, mesh in restored]
    config = restored[0][0]
    return label_map(average_probabilities(probabilities), config.inference, model_head(config.model))


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
