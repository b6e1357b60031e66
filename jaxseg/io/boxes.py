"""Bounding-box CSV files: the RSNA Pneumonia Detection layout and the cxr_lung_covid_hannover one.

Boxes are in pixels of the displayed image: x counts columns from the left, y rows from the top.
"""

from __future__ import annotations

import csv
import dataclasses
import os
from pathlib import Path

from jaxseg.io.errors import GeometryMismatchError, ReadError
from jaxseg.io.image2d import Image2D

# Header -> (image column, label column or None, x, y, width, height). RSNA's Target says whether
# the row has a box (1, label "pneumonia") or marks an image without one (0).
LAYOUTS = {
    "rsna": (("patientId", "x", "y", "width", "height", "Target"), ("patientId", None, "x", "y", "width", "height")),
    "image_label_xywh": (("image", "label", "x", "y", "w", "h"), ("image", "label", "x", "y", "w", "h")),
}
RSNA_LABEL = "pneumonia"


@dataclasses.dataclass(frozen=True)
class Box:
    """An axis-aligned box: top-left corner (x: column, y: row), width and height, in pixels."""

    x: float
    y: float
    width: float
    height: float
    label: str

    def yxyx(self) -> tuple[float, float, float, float]:
        """(ymin, xmin, ymax, xmax), the order detection models such as Faster R-CNN use."""
        return self.y, self.x, self.y + self.height, self.x + self.width


def _number(row: dict[str, str], key: str, path: Path, line: int) -> float:
    try:
        return float(row[key])
    except (TypeError, ValueError):
        raise ReadError(path, f"line {line}: {key} is not a number: {row[key]!r}") from None


def read_box_csv(path: str | os.PathLike) -> dict[str, list[Box]]:
    """Boxes per image, in file order: image id (as written in the CSV) -> boxes.

    Layouts, told apart by the header: RSNA `patientId,x,y,width,height,Target` (a Target 0 row
    lists an image without boxes, which maps to []), and `image,label,x,y,w,h`. Other headers,
    non-numeric values and boxes of zero or negative size raise ReadError with the line number.
    """
    path = Path(path)
    if not path.is_file():
        raise ReadError(path, "no such file")
    boxes: dict[str, list[Box]] = {}
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        header = tuple(name.strip() for name in reader.fieldnames or ())
        layout = next((name for name, (columns, _) in LAYOUTS.items() if set(columns) <= set(header)), None)
        if layout is None:
            expected = " or ".join(",".join(columns) for columns, _ in LAYOUTS.values())
            raise ReadError(path, f"unknown box CSV header {','.join(header)}: expected {expected}")
        image_key, label_key, *geometry = LAYOUTS[layout][1]
        for line, row in enumerate(reader, start=2):
            row = {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}
            entries = boxes.setdefault(row[image_key], [])
            if layout == "rsna" and _number(row, "Target", path, line) == 0:
                continue
            x, y, width, height = (_number(row, key, path, line) for key in geometry)
            if width <= 0 or height <= 0:
                raise ReadError(path, f"line {line}: box of size {width} x {height}")
            entries.append(Box(x, y, width, height, row[label_key] if label_key else RSNA_LABEL))
    return boxes


def check_boxes_inside(boxes: list[Box], image: Image2D) -> None:
    """GeometryMismatchError (naming the image) when a box reaches outside the image's pixels."""
    height, width = image.shape
    for box in boxes:
        if box.x < 0 or box.y < 0 or box.x + box.width > width or box.y + box.height > height:
            raise GeometryMismatchError(image.source or "image", f"box {box} reaches outside the image "
                                                                 f"({width} x {height} pixels)")
