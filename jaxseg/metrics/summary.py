"""Per-case metrics -> summaries: nnU-Net-like summary.json, per-metric statistics, tables and CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence

import numpy as np

STATISTICS = ("mean", "std", "min", "25%", "50%", "75%", "max")


def describe(values: Sequence[float]) -> dict[str, float]:
    """mean, sample std (ddof 1), min, quartiles (linear interpolation) and max of a list of values,
    the rows of seed 000's Table 6.1 (and of pandas' describe). std is nan for a single value;
    an inf value (a distance to an empty mask) makes the mean and max inf, the std nan.
    """
    v = np.asarray(values, np.float64)
    if v.size == 0:
        raise ValueError("no values to describe")
    with np.errstate(invalid="ignore"):  # inf - inf inside std and interpolation: nan, as it should be
        q1, median, q3 = np.percentile(v, (25, 50, 75))
        std = float(np.std(v, ddof=1)) if v.size > 1 else float("nan")
    return {"mean": float(np.mean(v)), "std": std, "min": float(v.min()), "25%": float(q1),
            "50%": float(median), "75%": float(q3), "max": float(v.max())}


def summarize(per_case: Sequence[dict], failed: Sequence[dict] = ()) -> dict:
    """nnU-Net-like summary of per-case metrics, saying how many cases the means cover.

    per_case: [{"case_id": str, "metrics": {class name: {metric: float}}, ...}, ...].
    failed: cases that could not be scored, [{"case_id", "file", "reason"}, ...].
    Returns {"metric_per_case": per_case, "mean": {class: {metric: mean}},
    "foreground_mean": {metric: mean over classes of the class means}, "n_cases": cases in the
    means, "n_failed": len(failed), "failed_cases": failed}.
    """
    values = _values(per_case)
    mean = {c: {m: float(np.mean(v)) for m, v in by_metric.items()} for c, by_metric in values.items()}
    metrics = list(next(iter(mean.values()))) if mean else []
    foreground_mean = {m: float(np.mean([mean[c][m] for c in mean])) for m in metrics}
    return {"metric_per_case": list(per_case), "mean": mean, "foreground_mean": foreground_mean,
            "n_cases": len(per_case), "n_failed": len(failed), "failed_cases": list(failed)}


def case_statistics(per_case: Sequence[dict]) -> dict[str, dict[str, dict[str, float]]]:
    """{class: {metric: describe(values over cases)}} of per-case metrics in `summarize`'s format."""
    return {c: {m: describe(v) for m, v in by_metric.items()} for c, by_metric in _values(per_case).items()}


def _values(per_case: Sequence[dict]) -> dict[str, dict[str, list[float]]]:
    classes = list(per_case[0]["metrics"]) if per_case else []
    metrics = list(per_case[0]["metrics"][classes[0]]) if classes else []
    return {c: {m: [case["metrics"][c][m] for case in per_case] for m in metrics} for c in classes}


def markdown_table(summary: dict, metric: str = "Dice") -> str:
    """One row per case, one column per class, for `metric`; then the mean row, and below the
    table the cases that could not be scored (summary["failed_cases"]), with their file and reason."""
    classes = list(summary["mean"])
    lines = [
        "| case | " + " | ".join(classes) + " | mean |",
        "|---|" + "---:|" * (len(classes) + 1),
    ]
    for case in summary["metric_per_case"]:
        values = [case["metrics"][c][metric] for c in classes]
        lines.append(f"| {case['case_id']} | " + " | ".join(f"{v:.3f}" for v in values) + f" | {np.mean(values):.3f} |")
    means = [summary["mean"][c][metric] for c in classes]
    lines.append("| **mean** | " + " | ".join(f"{v:.3f}" for v in means)
                 + f" | {summary['foreground_mean'][metric]:.3f} |")
    failed = summary.get("failed_cases", [])
    if failed:
        lines += ["", f"Means over {len(summary['metric_per_case'])} cases; {len(failed)} failed and are not in them:"]
        lines += [f"- {f['case_id']}: {f['file']}: {f['reason']}" for f in failed]
    return "\n".join(lines)


def statistics_table(columns: Mapping[str, Sequence[float]], digits: int = 3) -> str:
    """Seed 000's Table 6.1 layout as markdown: one column per series (a class, a plane, a model),
    one row per statistic of `describe`.
    """
    described = {name: describe(values) for name, values in columns.items()}
    lines = ["| | " + " | ".join(described) + " |", "|---|" + "---:|" * len(described)]
    for stat in STATISTICS:
        lines.append(f"| {stat} | " + " | ".join(f"{d[stat]:.{digits}f}" for d in described.values()) + " |")
    return "\n".join(lines)


def to_csv(summary: dict) -> str:
    """The per-case metrics as CSV text: a header `case_id,class,<metrics...>,error`, one row per case
    and class; then one row per failed case (summary["failed_cases"]) with empty class and metrics
    and its error "FILE: REASON"."""
    classes = list(summary["mean"])
    metrics = list(summary["mean"][classes[0]]) if classes else []
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["case_id", "class", *metrics, "error"])
    for case in summary["metric_per_case"]:
        for c in classes:
            writer.writerow([case["case_id"], c, *(repr(float(case["metrics"][c][m])) for m in metrics), ""])
    for failure in summary.get("failed_cases", []):
        writer.writerow([failure["case_id"], "", *([""] * len(metrics)), f"{failure['file']}: {failure['reason']}"])
    return out.getvalue()
