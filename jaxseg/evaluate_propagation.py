"""Evaluation of a slice-propagation run (seed 004): simulated-correction curves and one-shot label maps.

For each case and organ the mask is propagated from the reference of the organ's middle slice
(one-shot), then again with reference slices every p of the organ's extent along data.plane
(p from propagation.correction_fractions); the Dice of the whole volume, corrected slices
included, against the number of corrected slices is the curve. The one-shot masks of a case's
organs, each written with its label value, make its predicted label map.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import ml_collections
import numpy as np

from jaxseg.config import ConfigError
from jaxseg.core.state import TrainState
from jaxseg.data.cases import LoadedCase
from jaxseg.inference import simulated_correction_curve
from jaxseg.inference.propagation_model import model_mask_step, organ_slices, propagation_classes
from jaxseg.io.atomic import atomic_path, write_text_atomic
from jaxseg.models.facts import NetworkFacts
from jaxseg.report import correction_curves_figure


class PropagationEvaluation:
    """Propagates every evaluated organ of each case given to `predict`; `report` writes the curves.

    labels: the dataset's {label value: name}. `self.labels` keeps background and the evaluated
    organs (propagation.classes, else sampling.pair_classes, else every foreground label): the
    classes the per-case metrics are computed for.
    """

    def __init__(self, config: ml_collections.ConfigDict, state: TrainState, labels: dict[int, str]):
        key = "propagation.classes" if config.propagation.classes else "sampling.pair_classes"
        configured = tuple(config.propagation.classes) or tuple(config.sampling.pair_classes)
        if unknown := [v for v in configured if v not in labels]:
            raise ConfigError(f"config key '{key}' names label values {unknown} that the dataset does not define "
                              f"({labels})")
        self.config, self.state, self.facts = config, state, NetworkFacts.of(config)
        self.labels = {0: labels[0], **{v: labels[v] for v in propagation_classes(config, labels)}}
        self.fractions = (None, *config.propagation.correction_fractions)
        self.rows: list[dict] = []

    def predict(self, case: LoadedCase) -> np.ndarray:
        """One-shot label map (I, J, K) uint8 of a case's organs (where masks overlap, the organ
        listed later in the configured classes wins); records each organ's curve."""
        axis = case.image.plane_axis(self.config.data.plane)
        step_fn = model_mask_step(self.state, self.facts.pad_multiple, case.pad_value[0], self.facts.head)
        prediction = np.zeros(case.label.shape, np.uint8)
        stacked = np.moveaxis(prediction, axis, 0)  # A view: writing slices writes the prediction.
        for value in propagation_classes(self.config, np.unique(case.label.array)):
            images, truth = organ_slices(case, self.config.data.plane, value)
            curve = simulated_correction_curve(step_fn, images, truth, self.fractions,
                                               self.config.propagation.stop_after_empty,
                                               self.config.inference.threshold)
            stacked[curve[0].masks > 0] = value
            self.rows += [{"case_id": case.case_id, "organ": self.labels[value], "corrections": point.name,
                           "fraction": point.fraction, "corrected_slices": point.corrected_slices, "Dice": point.dice}
                          for point in curve]
        return prediction

    def mean_curves(self) -> dict[str, list[dict]]:
        """{organ or "mean" (over every case and organ): [{"corrections", "corrected_slices", "Dice"} per
        fraction, means over cases]}."""
        groups = {name: [r for r in self.rows if r["organ"] == name] for name in self.labels.values()}
        groups = {name: rows for name, rows in groups.items() if rows}
        groups["mean"] = self.rows
        curves = {}
        for name, rows in groups.items():
            curves[name] = []
            for fraction in self.fractions:
                points = [r for r in rows if r["fraction"] == fraction]
                curves[name].append({"corrections": points[0]["corrections"], "fraction": fraction,
                                     "corrected_slices": float(np.mean([p["corrected_slices"] for p in points])),
                                     "Dice": float(np.mean([p["Dice"] for p in points]))})
        return curves

    def report(self, out: Path) -> dict:
        """Write propagation.csv (one row per case, organ and fraction) and propagation.png (mean
        Dice against mean corrected slices, per organ and overall); return summary.json's
        "propagation" section: settings, per-case curves and the mean curves."""
        if not self.rows:
            raise ValueError(f"no evaluated case holds any of the organs {list(self.labels.values())[1:]}")
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=list(self.rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows({**r, "fraction": "" if r["fraction"] is None else r["fraction"]} for r in self.rows)
        write_text_atomic(out / "propagation.csv", text.getvalue())
        means = self.mean_curves()
        with atomic_path(out / "propagation.png") as tmp:
            correction_curves_figure(tmp, {name: ([p["corrected_slices"] for p in curve], [p["Dice"] for p in curve])
                                           for name, curve in means.items()})
        per_case: dict[tuple[str, str], list[dict]] = {}
        for r in self.rows:
            per_case.setdefault((r["case_id"], r["organ"]), []).append(
                {k: r[k] for k in ("corrections", "fraction", "corrected_slices", "Dice")})
        return {
            "plane": self.config.data.plane,
            "stop_after_empty": self.config.propagation.stop_after_empty,
            "threshold": self.config.inference.threshold,
            "correction_fractions": list(self.config.propagation.correction_fractions),
            "per_case": [{"case_id": c, "organ": o, "curve": curve} for (c, o), curve in per_case.items()],
            "mean_curve": means.pop("mean"),
            "mean_curve_per_organ": means,
        }
