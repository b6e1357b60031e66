"""Checkpoint -> whole-volume predictions -> per-case metrics -> report files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from jaxseg.data.datasets import load_cases, open_dataset
from jaxseg.metrics import markdown_table, per_class_overlap, summarize
from jaxseg.report import overlay_figure
from jaxseg.train.build import restore_trained
from jaxseg.train.validation import segment_case


def _most_foreground_slice(label: np.ndarray, axis: int) -> int:
    counts = np.count_nonzero(np.moveaxis(label, axis, 0).reshape(label.shape[axis], -1), axis=1)
    return int(counts.argmax())


def evaluate_run(workdir: str | Path, split: str = "test", out: str | Path | None = None,
                 progress: bool = True) -> dict:
    """Evaluate a run's checkpoint (config key evaluate.checkpoint: best or latest) on a split.

    Writes to `out` (default WORKDIR/eval): summary.json (nnU-Net-like: metric_per_case, mean per
    class, foreground_mean; Dice and IoU), summary.md (per-case Dice table) and overlays.png
    (the slice with most reference foreground of the first cases). Returns the summary.
    """
    workdir = Path(workdir)
    out = Path(out) if out else workdir / "eval"
    config, state, step, mesh = restore_trained(workdir, which="best")
    index, splits = open_dataset(config, workdir)
    if not splits[split]:
        raise ValueError(f"split '{split}' of {index.root} has no cases")
    per_case, overlays = [], []
    for case in tqdm(load_cases(splits[split], config, index), desc=f"evaluate {split}", disable=not progress):
        axis = case.image.plane_axis(config.data.plane)
        prediction, _ = segment_case(state, case.image.array, axis, config, mesh)
        per_case.append({
            "case_id": case.case_id,
            "reference_file": case.label.source,
            "metrics": per_class_overlap(prediction, case.label.array, index.labels),
        })
        if len(overlays) < config.evaluate.overlay_cases:
            k = _most_foreground_slice(case.label.array, axis)
            take = lambda a: np.take(a, k, axis=axis)  # noqa: E731
            overlays.append((case.case_id, take(case.image.array), take(case.label.array), take(prediction)))
    summary = {"checkpoint_step": step, "split": split, **summarize(per_case)}
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    (out / "summary.md").write_text(
        f"# Dice per case ({split} split, checkpoint step {step})\n\n" + markdown_table(summary) + "\n"
    )
    if overlays:
        overlay_figure(out / "overlays.png", overlays, [index.labels[i] for i in sorted(index.labels)])
    return summary
