"""Time jaxseg's surface metrics on a 512x512x300 mask pair on one CPU core.

Two overlapping ellipsoids (an organ-sized object, 17M voxels, and a shifted, reshaped
prediction) at CT-like spacing (0.8, 0.8, 2.5) mm. Prints one line per metric (wall and CPU seconds) and writes
benchmarks/results/cpu/surface_distance_speed.json. Pin to one core with
`taskset -c 0 python benchmarks/surface_distance_speed.py` (the k-d tree query is single-threaded
already; the pin also keeps numpy's threads to one core).
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from jaxseg.metrics import average_surface_distance, hausdorff_distance, normalized_surface_dice

SHAPE = (512, 512, 300)
SPACING = (0.8, 0.8, 2.5)
RESULT = Path(__file__).resolve().parent / "results" / "cpu" / "surface_distance_speed.json"


def ellipsoid(centre: tuple[float, ...], radii: tuple[float, ...]) -> np.ndarray:
    grid = np.ogrid[tuple(slice(0, s) for s in SHAPE)]
    return sum(((g - c) / r) ** 2 for g, c, r in zip(grid, centre, radii)) < 1


def timed(fn) -> tuple[float, float, float]:
    """(value, wall seconds, CPU seconds of this process): on a shared machine the CPU time is the
    figure to trust, the wall time also counts waiting for the core.
    """
    wall, cpu = time.perf_counter(), time.process_time()
    value = fn()
    return value, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    true = ellipsoid((256, 256, 150), (200, 180, 110))
    pred = ellipsoid((260, 250, 153), (195, 185, 108))
    runs = {
        "hausdorff_distance": lambda: hausdorff_distance(pred, true, SPACING),
        "hausdorff_distance_95": lambda: hausdorff_distance(pred, true, SPACING, percentile=95),
        "average_surface_distance": lambda: average_surface_distance(pred, true, SPACING),
        "normalized_surface_dice_1mm": lambda: normalized_surface_dice(pred, true, 1.0, SPACING),
    }
    results = {}
    for name, run in runs.items():
        value, wall, cpu = timed(run)
        results[name] = {"value_mm_or_fraction": value, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3)}
        print(f"{name:30s} {value:10.4f}  wall {wall:6.2f} s  cpu {cpu:6.2f} s")
    record = {
        "shape": SHAPE,
        "spacing_mm": SPACING,
        "true_voxels": int(true.sum()),
        "pred_voxels": int(pred.sum()),
        "cpu": platform.processor() or platform.machine(),
        "cores_allowed": len(os.sched_getaffinity(0)),
        "load_average_1min": os.getloadavg()[0],
        "results": results,
    }
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {RESULT}")


if __name__ == "__main__":
    main()
