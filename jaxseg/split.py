"""`jaxseg split`: which cases a config trains, validates and holds out, before any training."""

from __future__ import annotations

from pathlib import Path

import ml_collections

from jaxseg.tasks import get_task


def split_listing(config: ml_collections.ConfigDict, workdir: str | Path) -> dict:
    """{"dataset": folder, "train"/"val"/"test": [case ids]} of the config's dataset (a phantom
    dataset is generated in WORKDIR/phantom first); the split training and `jaxseg evaluate` use."""
    root, splits = get_task(config.task).splits(config, Path(workdir))
    return {"dataset": str(root), **{name: [case.case_id for case in cases] for name, cases in splits.items()}}


def format_split(listing: dict) -> str:
    """One line per split: its name, its size and its case ids."""
    lines = [f"dataset {listing['dataset']}"]
    for name in ("train", "val", "test"):
        lines.append(f"{name:5s} ({len(listing[name])}): {' '.join(listing[name])}")
    return "\n".join(lines)
