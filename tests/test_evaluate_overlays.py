"""`evaluate.overlay_cases`: how many of the worst, median and best cases the overlay figure shows."""

import numpy as np
import pytest

from jaxseg import evaluate
from jaxseg.config import load_config
from jaxseg.data.cases import LoadedCase
from jaxseg.io import Volume


def _case(case_id: str) -> tuple[LoadedCase, np.ndarray]:
    label = np.zeros((6, 6, 4), np.uint8)
    label[1:4, 1:4, 2] = 1
    affine = np.eye(4)
    return LoadedCase(case_id, Volume(label.astype(np.float32), affine), Volume(label, affine)), label


@pytest.mark.parametrize("count, rows", [(0, None), (1, ["worst c"]), (2, ["worst c", "median a"]),
                                         (3, ["worst c", "median a", "best b"])])
def test_overlay_cases_sets_the_figure_rows(count, rows, tmp_path, monkeypatch):
    drawn = []
    monkeypatch.setattr(evaluate, "overlay_figure", lambda path, r, names: drawn.append([row[0] for row in r]))
    per_case = [{"case_id": c, "metrics": {"liver": {"Dice": d}}} for c, d in (("a", 0.5), ("b", 0.9), ("c", 0.1))]
    config = load_config("demo", [f"evaluate.overlay_cases={count}"])
    evaluate._write_overlays(tmp_path / "overlays.png", per_case, {c: _case(c) for c in "abc"}, config,
                             {0: "background", 1: "liver"})
    assert drawn == ([] if rows is None else [rows])
