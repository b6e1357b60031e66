"""Turning SIGTERM and SIGINT into a request to checkpoint and stop, instead of an abrupt exit."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from pathlib import Path


class TrainingInterrupted(Exception):
    """Training stopped on SIGTERM/SIGINT after saving a checkpoint at `step`; rerun to resume."""

    def __init__(self, step: int, signum: int, workdir: Path):
        self.step, self.signum = step, signum
        super().__init__(f"stopped by signal {signum} at step {step}; checkpoint saved in "
                         f"{workdir / 'checkpoints'}; run the same command again to resume")


class StopRequest:
    """Set by SIGTERM/SIGINT while installed; the training loop checks it after every step."""

    def __init__(self) -> None:
        self.signal: int | None = None

    def __bool__(self) -> bool:
        return self.signal is not None


@contextlib.contextmanager
def stop_on_signals(signals=(signal.SIGTERM, signal.SIGINT)) -> Iterator[StopRequest]:
    """Within the block, the signals set the yielded StopRequest; the old handlers come back after.

    Only the main thread may install handlers; elsewhere (a notebook's worker thread, say) the
    request simply never fires.
    """
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return

    def handle(signum, frame):
        request.signal = signum

    previous = {s: signal.signal(s, handle) for s in signals}
    try:
        yield request
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
