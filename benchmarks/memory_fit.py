"""Which seed training setups fit an 8 GB card (GTX 1070/1080, RTX 3070), in fp32 and bf16, with
and without remat: the train step's compiled memory analysis at the seed's own batch and shape.

Compilation only, nothing runs, so it works on any backend, but the figure is the backend's:
on a CPU it is what XLA's CPU compiler plans (other fusion and scheduling, no cuDNN workspace, no
CUDA context), so treat a CPU verdict near the line as indicative and re-run this on the GPU.
Two lines are drawn: 8 GiB, and the 6 GiB JAX's memory pool takes by default (75%; raise it with
XLA_PYTHON_CLIENT_MEM_FRACTION).

    python benchmarks/memory_fit.py [--cases ...] [--budget 8GiB]
"""

from __future__ import annotations

import argparse
import os

# Only XLA's buffer assignment is read, an HLO-level plan that LLVM's optimisation level does not
# change (equal peaks checked on CPU); without LLVM optimisation a step compiles ~20% faster.
os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} --xla_backend_optimization_level=0".strip()

from results_io import markdown, write_results  # noqa: E402
from seed_cases import CASES, case_config  # noqa: E402

from jaxseg.perf.step_cost import step_memory  # noqa: E402
from jaxseg.plan import DEFAULT_MEM_FRACTION, parse_bytes  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--budget", default="8GiB")
    parser.add_argument("--remat", default="auto", choices=("auto", "all", "none"),
                        help="auto: try remat where the step does not fit without it")
    args = parser.parse_args()
    budget = parse_bytes(args.budget)
    pool = DEFAULT_MEM_FRACTION * budget
    rows = []
    for name in args.cases.split(","):
        case = CASES[name]
        for dtype in ("float32", "bfloat16"):
            for remat in (False, True):
                if remat and (args.remat == "none" or (args.remat == "auto" and rows[-1]["fits_budget"])):
                    continue
                memory = step_memory(case_config(name, dtype, remat), case.batch, case.spatial)
                rows.append({"case": name, "preset": case.preset, "dtype": dtype, "remat": remat,
                             "batch": case.batch, "spatial": list(case.spatial), "peak_bytes": memory.peak_bytes,
                             "temp_bytes": memory.temp_bytes, "argument_bytes": memory.argument_bytes,
                             "fits_budget": memory.peak_bytes <= budget,
                             "fits_default_pool": memory.peak_bytes <= pool})
                print(rows[-1])
    table = markdown(["case", "dtype", "remat", "batch x shape", "step peak GiB", f"fits {args.budget}",
                      f"fits default pool ({pool / 2**30:.1f} GiB)"],
                     [[r["case"], r["dtype"], r["remat"], f"{r['batch']}x{'x'.join(map(str, r['spatial']))}",
                       r["peak_bytes"] / 2**30, "yes" if r["fits_budget"] else "no",
                       "yes" if r["fits_default_pool"] else "no"] for r in rows])
    write_results("memory_fit", {"budget_bytes": budget, "default_pool_bytes": pool, "rows": rows,
                                 "memory_model": "XLA compiled memory analysis (backend-dependent)",
                                 "xla_backend_optimization_level": 0}, table)


if __name__ == "__main__":
    main()
