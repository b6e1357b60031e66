"""Run the whole benchmark suite, one script after another, and record each one's wall time.

    python benchmarks/run_all.py            # seed shapes (a GPU)
    python benchmarks/run_all.py --reduced  # small inputs, same networks (a 2-core CPU, idle: 19 min)

Results land in benchmarks/results/<device>/ (see README "Benchmarks"). Compiled executables are
shared between scripts through a fresh JAX persistent compilation cache, so a step compiled by
train_throughput (whose compile times are therefore real) is reused by torch_compare.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def suite(reduced: bool) -> list[list[str]]:
    """The scripts and their arguments; the reduced ones shrink inputs and repetitions."""
    r = ["--reduced"] if reduced else []
    return [
        ["train_throughput.py", *r, "--steps", "3" if reduced else "10",
         *(["--variants", "reduced"] if reduced else [])],
        ["torch_compare.py", *r, *(["--rounds", "2", "--steps", "2"] if reduced else [])],
        ["memory_fit.py"],
        ["scaling.py", *r],
        ["upsampling.py", *r],
        ["layout.py", *r],
        ["data_pipeline.py", *(["--cases", "2", "--batches", "5", "--steps", "1"] if reduced else [])],
        ["surface_distance_speed.py"],
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reduced", action="store_true")
    parser.add_argument("--only", help="comma-separated script names to run (default: all)")
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    timings, start = {}, time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="jaxseg-jit-cache-") as cache:
        env.update(JAX_COMPILATION_CACHE_DIR=cache, JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0")
        for script, *script_args in suite(args.reduced):
            if args.only and script.removesuffix(".py") not in args.only.split(","):
                continue
            began = time.perf_counter()
            print(f"== {script} {' '.join(script_args)}", flush=True)
            done = subprocess.run([sys.executable, str(HERE / script), *script_args], cwd=HERE, env=env)
            timings[script] = {"wall_s": round(time.perf_counter() - began, 1), "returncode": done.returncode}
            print(f"== {script}: {timings[script]}", flush=True)
    total = time.perf_counter() - start
    print(json.dumps({"total_wall_s": round(total, 1), "scripts": timings}, indent=2))
    sys.path.insert(0, str(HERE))
    from results_io import results_dir  # Imports JAX: after the scripts, to keep this process light.

    (results_dir() / "run_all.json").write_text(json.dumps(
        {"reduced": args.reduced, "total_wall_s": round(total, 1), "load_average_after": os.getloadavg(),
         "scripts": timings}, indent=2) + "\n")
    if any(t["returncode"] for t in timings.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
