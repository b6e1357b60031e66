"""Per-case metrics -> summaries: nnU-Net-like summary.json and a markdown table."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def summarize(per_case: Sequence[dict]) -> dict:
    """nnU-Net-like summary of per-case metrics.

    per_case: [{"case_id": str, "metrics": {class name: {metric: float}}, ...}, ...].
    Returns {"metric_per_case": per_case, "mean": {class: {metric: mean}},
    "foreground_mean": {metric: mean over classes of the class means}}.
    """
    classes = list(per_case[0]["metrics"]) if per_case else []
    metrics = list(per_case[0]["metrics"][classes[0]]) if classes else []
    mean = {
        c: {m: float(np.mean([case["metrics"][c][m] for case in per_case])) for m in metrics} for c in classes
    }
    foreground_mean = {m: float(np.mean([mean[c][m] for c in classes])) for m in metrics}
    return {"metric_per_case": list(per_case), "mean": mean, "foreground_mean": foreground_mean}


def markdown_table(summary: dict, metric: str = "Dice") -> str:
    """One row per case, one column per class, for `metric`; then the mean row."""
    classes = list(summary["mean"])
    lines = [
        "| case | " + " | ".join(classes) + " | mean |",
        "|---|" + "---:|" * (len(classes) + 1),
    ]
    for case in summary["metric_per_case"]:
        values = [case["metrics"][c][metric] for c in classes]
        lines.append(f"| {case['case_id']} | " + " | ".join(f"{v:.3f}" for v in values) + f" | {np.mean(values):.3f} |")
    means = [summary["mean"][c][metric] for c in classes]
    lines.append("| **mean** | " + " | ".join(f"{v:.3f}" for v in means) + f" | {summary['foreground_mean'][metric]:.3f} |")
    return "\n".join(lines)
