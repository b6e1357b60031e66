"""Training logs: a JSONL metrics file and a console progress bar."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tqdm.auto import tqdm


class MetricsLog:
    """Appends one JSON object per logged step to WORKDIR/metrics.jsonl."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, step: int, metrics: dict[str, float]) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps({"step": step, "time": time.time(), **metrics}) + "\n")


def progress_bar(total: int, initial: int, enabled: bool = True) -> tqdm:
    """A bar over training steps; the loop sets loss and samples/s as its postfix."""
    return tqdm(total=total, initial=initial, desc="train", unit="step", disable=not enabled, dynamic_ncols=True)
