"""Record MONAI's surface distances of real 2D masks (the shared CXR lungs and ISBI 2012 membranes) for
tests/test_surface_2d.py (dev tool; needs monai, torch and Pillow, and ../shared/data).

    PYTHONPATH=. python tests/reference/make_surface_2d_golden.py

Each pair is two masks of the same size from one dataset (one taken as the prediction, the other as
the reference): real shapes with real disagreements. MONAI measures them as (1, 1, H, W) arrays, in
pixels (no spacing), which is what `jaxseg evaluate` must report for a 2D image without a pixel size.
Writes tests/data/surface_2d_monai.json.
"""

from __future__ import annotations

import json
import warnings
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch
from monai import metrics as monai_metrics
from PIL import Image

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
OUT = Path(__file__).resolve().parents[1] / "data" / "surface_2d_monai.json"

# (dataset folder, mask folder, foreground mask value, prediction mask, reference mask)
PAIRS = [
    ("cxr_lung_covid_hannover", "masks", 255, "4d98e1de.png", "19abe1f3.png"),
    ("cxr_lung_covid_hannover", "masks", 255, "2168a917.png", "4d98e1de.png"),
    ("isbi2012_em_membrane", "labels", 0, "01.png", "02.png"),
    ("isbi2012_em_membrane", "labels", 0, "14.png", "24.png"),
]


def foreground(dataset: str, folder: str, value: int, name: str) -> np.ndarray:
    """(H, W) bool: the pixels of the mask file that hold `value` (the class the config maps it to)."""
    return np.asarray(Image.open(SHARED / dataset / folder / name)) == value


def main() -> None:
    warnings.filterwarnings("ignore")
    records = []
    for dataset, folder, value, pred_name, true_name in PAIRS:
        pred, true = (foreground(dataset, folder, value, n) for n in (pred_name, true_name))
        p, t = torch.as_tensor(pred[None, None]), torch.as_tensor(true[None, None])
        values = {
            "HD": monai_metrics.compute_hausdorff_distance(p, t, include_background=True),
            "HD95": monai_metrics.compute_hausdorff_distance(p, t, include_background=True, percentile=95),
            "ASSD": monai_metrics.compute_average_surface_distance(p, t, include_background=True, symmetric=True),
        }
        records.append({"dataset": dataset, "mask_dir": folder, "value": value, "pred": pred_name,
                        "true": true_name, "shape": list(pred.shape),
                        "values": {k: float(v) for k, v in values.items()}})
        print(dataset, pred_name, true_name, records[-1]["values"])
    OUT.write_text(json.dumps({
        "generated_by": "tests/reference/make_surface_2d_golden.py",
        "versions": {name: version(name) for name in ("monai", "torch", "numpy", "scipy", "pillow")},
        "unit": "px",
        "pairs": records,
    }, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
