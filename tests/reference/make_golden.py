"""Write tests/data/reference_values.json: MONAI's, torch's, DeepMind surface-distance's and
pycocotools' values on the fixed inputs of tests/reference/cases.py (dev tool; needs the `dev` extra).

    PYTHONPATH=. python tests/reference/make_golden.py

tests/test_reference_values.py compares jaxseg against the file without any of these packages.
"""

from __future__ import annotations

import json
import warnings
from importlib.metadata import version
from pathlib import Path

import numpy as np
import surface_distance
import torch
import torch.nn.functional as F
from monai import losses as monai_losses
from monai import metrics as monai_metrics

from tests.reference.cases import detection_sets, encode, loss_inputs, mask_pairs
from tests.reference.pycoco import coco_ap50

OUT = Path(__file__).resolve().parents[1] / "data" / "reference_values.json"


def channels_first(x: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.moveaxis(x, -1, 1).copy())


def onehot_first(labels: np.ndarray, num_classes: int) -> torch.Tensor:
    return channels_first(np.eye(num_classes, dtype=np.float32)[labels])


def loss_references(inputs: dict) -> list[dict]:
    """[{"loss", "inputs": (logits key, labels key), "options", "value"}] for each reference case."""
    cases = []

    def add(loss, logits_key, labels_key, options, value):
        cases.append({"loss": loss, "logits": logits_key, "labels": labels_key, "options": options,
                      "value": float(value)})

    for logits_key, labels_key in (("logits_2d", "labels_2d"), ("logits_3d", "labels_3d")):
        logits, labels = inputs[logits_key], inputs[labels_key]
        c = logits.shape[-1]
        x, y, y1 = channels_first(logits), torch.as_tensor(labels[:, None]).long(), onehot_first(labels, c)
        for include_background in (True, False):
            for batch in (True, False):
                for squared_pred in (False, True):
                    for smooth in (1e-5, 1.0):
                        ref = monai_losses.DiceLoss(include_background=include_background, to_onehot_y=True,
                                                    softmax=True, squared_pred=squared_pred, smooth_nr=smooth,
                                                    smooth_dr=smooth, batch=batch)(x, y)
                        add("dice_loss", logits_key, labels_key,
                            {"include_background": include_background, "batch": batch,
                             "squared_pred": squared_pred, "smooth_nr": smooth, "smooth_dr": smooth}, ref)
                ref = monai_losses.GeneralizedDiceLoss(include_background=include_background, to_onehot_y=True,
                                                       softmax=True, batch=batch)(x, y)
                add("generalized_dice_loss", logits_key, labels_key,
                    {"include_background": include_background, "batch": batch}, ref)
                ref = monai_losses.TverskyLoss(include_background=include_background, to_onehot_y=True,
                                               softmax=True, alpha=0.3, beta=0.7, batch=batch)(x, y)
                add("tversky_loss", logits_key, labels_key,
                    {"include_background": include_background, "batch": batch, "alpha": 0.3, "beta": 0.7}, ref)
        ref = monai_losses.DiceCELoss(include_background=False, to_onehot_y=True, softmax=True, batch=True)(x, y)
        add("dice_ce_loss", logits_key, labels_key, {}, ref)
        weights = np.linspace(0.5, 2.0, c).astype(np.float32)
        target = torch.as_tensor(labels).long()
        for options in ({}, {"class_weights": weights.tolist()}, {"ignore_index": 1},
                        {"label_smoothing": 0.1}, {"class_weights": weights.tolist(), "label_smoothing": 0.2}):
            ref = F.cross_entropy(x, target, weight=torch.as_tensor(weights) if "class_weights" in options else None,
                                  ignore_index=options.get("ignore_index", -100),
                                  label_smoothing=options.get("label_smoothing", 0.0))
            add("cross_entropy", logits_key, labels_key, options, ref)
        ref = F.cross_entropy(x, y1, weight=torch.as_tensor(weights), label_smoothing=0.1)
        add("cross_entropy", logits_key, f"onehot:{labels_key}",
            {"class_weights": weights.tolist(), "label_smoothing": 0.1}, ref)

    logits, targets = inputs["logits_2d"], inputs["multilabel_2d"]
    x, t = channels_first(logits), channels_first(targets)
    for squared_pred in (False, True):
        ref = monai_losses.DiceLoss(include_background=True, sigmoid=True, squared_pred=squared_pred, batch=False)(x, t)
        add("dice_loss", "logits_2d", "multilabel_2d",
            {"activation": "sigmoid", "include_background": True, "batch": False, "squared_pred": squared_pred}, ref)
    for alpha in (None, 0.25):
        ref = monai_losses.FocalLoss(include_background=True, gamma=2.0, alpha=alpha, use_softmax=False)(x, t)
        add("focal_loss", "logits_2d", "multilabel_2d", {"gamma": 2.0, "alpha": alpha, "activation": "sigmoid"}, ref)
    weight = 3.46 * t + 1.406 * (1 - t)
    ref = F.binary_cross_entropy_with_logits(x, t, weight=weight)
    add("binary_cross_entropy", "logits_2d", "multilabel_2d", {"pos_weight": 3.46, "neg_weight": 1.406}, ref)
    add("binary_cross_entropy", "logits_2d", "multilabel_2d", {}, F.binary_cross_entropy_with_logits(x, t))
    return cases


def metric_references() -> list[dict]:
    cases = []
    for pred, true, spacing in mask_pairs():
        p, t = torch.as_tensor(pred[None, None]), torch.as_tensor(true[None, None])
        values = {
            "hausdorff_distance": monai_metrics.compute_hausdorff_distance(
                p, t, include_background=True, spacing=list(spacing)),
            "hausdorff_distance_95": monai_metrics.compute_hausdorff_distance(
                p, t, include_background=True, percentile=95, spacing=list(spacing)),
            "average_surface_distance": monai_metrics.compute_average_surface_distance(
                p, t, include_background=True, symmetric=True, spacing=list(spacing)),
            "average_surface_distance_directed": monai_metrics.compute_average_surface_distance(
                p, t, include_background=True, symmetric=False, spacing=list(spacing)),
            "dice_score": monai_metrics.compute_dice(p, t, include_background=True),
            "iou_score": monai_metrics.compute_iou(p, t, include_background=True),
        }
        values = {k: float(v) for k, v in values.items()}
        distances = surface_distance.compute_surface_distances(true, pred, list(spacing))
        values["normalized_surface_dice"] = {
            str(tol): float(surface_distance.compute_surface_dice_at_tolerance(distances, tol))
            for tol in (0.5, 1.0, 2.0, 3.0)}
        cases.append({"pred": encode(pred), "true": encode(true), "spacing": list(spacing), "values": values})
    return cases


def main() -> None:
    warnings.filterwarnings("ignore")
    inputs = loss_inputs()
    boxes = detection_sets()
    record = {
        "generated_by": "tests/reference/make_golden.py",
        "versions": {name: version(name)
                     for name in ("monai", "torch", "surface-distance", "pycocotools", "numpy", "scipy")},
        "inputs": {key: encode(value) for key, value in inputs.items()},
        "losses": loss_references(inputs),
        "metrics": metric_references(),
        "detection": {"images": [[encode(a) for a in image] for image in boxes], "coco_ap50": coco_ap50(boxes)},
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {OUT}: {len(record['losses'])} loss and {len(record['metrics'])} metric cases")


if __name__ == "__main__":
    main()
