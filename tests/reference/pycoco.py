"""pycocotools' box AP for the reference values and the live comparison (dev extra)."""

from __future__ import annotations

import contextlib
import io

from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval


def coco_ap50(images: list) -> float:
    """pycocotools' AP at IoU 0.5 (area "all", 100 detections) of one class."""
    gt = {"images": [{"id": i} for i in range(len(images))], "categories": [{"id": 1}], "annotations": []}
    detections = []
    for i, (true, pred, scores) in enumerate(images):
        for box in true:
            w, h = box[2] - box[0], box[3] - box[1]
            gt["annotations"].append({"id": len(gt["annotations"]) + 1, "image_id": i, "category_id": 1,
                                      "bbox": [box[0], box[1], w, h], "area": w * h, "iscrowd": 0})
        for box, score in zip(pred, scores):
            detections.append({"image_id": i, "category_id": 1, "score": float(score),
                               "bbox": [box[0], box[1], box[2] - box[0], box[3] - box[1]]})
    coco = COCO()
    coco.dataset = gt
    coco.createIndex()
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress and a table
        evaluation = COCOeval(coco, coco.loadRes(detections), "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return float(evaluation.stats[1])
