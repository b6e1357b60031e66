"""Training logs: a JSONL metrics file and a console progress bar."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path

from tensorboardX import SummaryWriter
from tqdm.auto import tqdm

log = logging.getLogger(__name__)


class MetricsLog:
    """Logged steps go to WORKDIR/metrics.jsonl (one JSON object a line) and TensorBoard events
    in WORKDIR/tensorboard/. Lines after `resume_step` (logged by an interrupted run after its last
    checkpoint, and about to be redone) are dropped first, so the log has each step once, and so
    is a line that does not parse (cut short by a crash mid-write), with a warning."""

    def __init__(self, workdir: str | Path, resume_step: int = 0):
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        self.path = workdir / "metrics.jsonl"
        if self.path.exists():
            kept = [line for step, line in self._records() if step <= resume_step]
            staging = self.path.with_name(".metrics.jsonl.tmp")  # a crash while rewriting keeps the old log
            staging.write_text("".join(line + "\n" for line in kept))
            os.replace(staging, self.path)
        self.events = SummaryWriter(str(workdir / "tensorboard"), purge_step=resume_step + 1 if resume_step else None)

    def _records(self) -> list[tuple[int, str]]:
        """(step, line) of each complete record."""
        records = []
        for number, line in enumerate(self.path.read_text().splitlines(), 1):
            try:
                step = json.loads(line)["step"] if line.strip() else None
            except (ValueError, TypeError, KeyError):
                step = "unreadable"
            if isinstance(step, int):
                records.append((step, line))
            elif step is not None:
                log.warning("%s, line %d, is not a complete record (a run stopped while writing it?); dropped: %.80s",
                            self.path, number, line)
        return records

    def write(self, step: int, metrics: dict[str, float]) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps({"step": step, "time": time.time(), **metrics}) + "\n")
        for name, value in metrics.items():
            self.events.add_scalar(name, value, step)
        self.events.flush()

    def close(self) -> None:
        self.events.close()


def progress_bar(total: int, initial: int, enabled: bool = True) -> tqdm:
    """A bar over training steps; the loop sets loss and samples/s as its postfix."""
    return tqdm(total=total, initial=initial, desc="train", unit="step", disable=not enabled, dynamic_ncols=True)


def announce(message: str, enabled: bool = True) -> None:
    """One line on stderr (beside the progress bar, which it does not break) saying what training is
    doing before its first step: preparing data, compiling the step, and how long that took."""
    if enabled:
        tqdm.write(f"jaxseg: {message}", file=sys.stderr)
