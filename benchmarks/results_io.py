"""Where benchmark results go, what every result file records about the machine, and the timing
rule of the micro-benchmarks (median of warm, synchronised calls)."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import jax

from jaxseg.perf.peaks import device_name

RESULTS = Path(__file__).resolve().parent / "results"


def results_dir() -> Path:
    """benchmarks/results/<device kind, sanitised>/, created."""
    folder = RESULTS / device_name()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def environment() -> dict:
    """The machine a result was measured on (load average: these CPUs are shared)."""
    return {"device_kind": jax.devices()[0].device_kind, "device_count": jax.device_count(),
            "backend": jax.default_backend(), "jax": jax.__version__, "cpu_count": os.cpu_count(),
            "load_average": os.getloadavg(), "python": platform.python_version(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}


def write_results(name: str, payload: dict, table: str) -> Path:
    """results/<device>/NAME.json (payload + environment) and NAME.md (the markdown table)."""
    folder = results_dir()
    (folder / f"{name}.json").write_text(json.dumps({"environment": environment(), **payload}, indent=2) + "\n")
    (folder / f"{name}.md").write_text(table.rstrip() + "\n")
    print(f"wrote {folder / name}.json and .md")
    return folder


def markdown(header: list[str], rows: list[list]) -> str:
    """A markdown table; floats with 3 significant digits."""
    def cell(v):
        return f"{v:.3g}" if isinstance(v, float) else ("" if v is None else str(v))
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows])


def median_seconds(fn: Callable, args: tuple, steps: int) -> float:
    """Median wall seconds of `steps` calls fn(*args), each waited for, after one untimed call (compilation)."""
    jax.block_until_ready(fn(*args))
    seconds = []
    for _ in range(steps):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)
