"""Kaggle run-length encoding of binary masks (Data Science Bowl 2018 and others).

A mask (H, W) is flattened column by column (top to bottom, then left to right) and pixels are
numbered from 1; the code is "start length start length ...", runs sorted and not overlapping.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from jaxseg.io.errors import ReadError


def rle_encode(mask: np.ndarray) -> str:
    """Run-length code of an (H, W) mask (nonzero = inside); "" for an empty mask."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"expected an (H, W) mask, got shape {mask.shape}")
    flat = np.concatenate([[False], mask.T.ravel() != 0, [False]])
    bounds = np.flatnonzero(flat[1:] != flat[:-1]) + 1  # 1-based run starts and one-past-ends
    bounds[1::2] -= bounds[::2]
    return " ".join(str(v) for v in bounds)


def rle_decode(code: str, shape: tuple[int, int]) -> np.ndarray:
    """The (H, W) bool mask of a run-length code; ValueError for malformed or out-of-range runs."""
    height, width = (int(s) for s in shape)
    try:
        values = np.array(code.split(), dtype=np.int64)
    except ValueError:
        raise ValueError(f"run-length code holds non-integers: {code[:60]!r}") from None
    if values.size % 2:
        raise ValueError(f"run-length code has an odd number of values ({values.size})")
    starts, lengths = values[0::2] - 1, values[1::2]
    ends = starts + lengths
    if values.size and (starts.min() < 0 or lengths.min() < 1 or ends.max() > height * width):
        raise ValueError(f"run-length code has runs outside 1..{height * width} pixels or of length < 1")
    if np.any(starts[1:] < ends[:-1]):
        raise ValueError("run-length code has unsorted or overlapping runs")
    edges = np.zeros(height * width + 1, np.int32)
    np.add.at(edges, starts, 1)
    np.add.at(edges, ends, -1)
    return (np.cumsum(edges[:-1]) > 0).reshape(width, height).T


def read_rle_csv(path: str | os.PathLike) -> dict[str, list[str]]:
    """Run-length codes of a Kaggle CSV with columns ImageId and EncodedPixels (one row per object).

    Returns ImageId -> codes in file order; an image whose only row has an empty code maps to [].
    """
    path = Path(path)
    if not path.is_file():
        raise ReadError(path, "no such file")
    codes: dict[str, list[str]] = {}
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"ImageId", "EncodedPixels"} - set(reader.fieldnames or ())
        if missing:
            raise ReadError(path, f"missing column(s) {sorted(missing)}; header is {reader.fieldnames}")
        for line, row in enumerate(reader, start=2):
            code = (row["EncodedPixels"] or "").strip()
            parts = code.split()
            if len(parts) % 2 or not all(part.isdigit() for part in parts):
                raise ReadError(path, f"line {line}: malformed run-length code {code[:60]!r}")
            codes.setdefault(row["ImageId"], [])
            if code:
                codes[row["ImageId"]].append(code)
    return codes
