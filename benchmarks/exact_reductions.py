"""What exact cross-device sums cost: the demo's train step with `train.exact_reductions` True and
False on the same devices, batch and shapes, timed alternately in one process (median of warm,
synchronised steps). On CPU it forces `--devices` host devices (default 4); on a GPU machine it uses
the GPUs. Prints and saves results/<device>/exact_reductions.{json,md}.

    python benchmarks/exact_reductions.py [--devices 4] [--batch 16] [--size 64] [--steps 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=4, help="forced CPU devices (ignored on GPU)")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=64, help="slice size (the demo's 64)")
    parser.add_argument("--steps", type=int, default=10, help="timed steps of each variant")
    args = parser.parse_args()
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={args.devices}"

    import jax
    import numpy as np

    sys.path.insert(0, os.path.dirname(__file__))
    from results_io import markdown, write_results

    from jaxseg.config import load_config
    from jaxseg.core.mesh import global_batch, make_mesh
    from jaxseg.tasks.segmentation import SegmentationTask
    from jaxseg.train.build import build_state

    if jax.device_count() < 2:
        sys.exit(f"exact_reductions.py: {jax.device_count()} device: exact sums act across 2 or more")
    mesh = make_mesh()
    rng = np.random.default_rng(0)
    batch = global_batch({"image": rng.standard_normal((args.batch, args.size, args.size, 1)).astype(np.float32),
                          "label": rng.integers(0, 5, (args.batch, args.size, args.size)).astype(np.int32)}, mesh)
    runs = {}
    for exact in (True, False):
        config = load_config("demo", ["data.root=unused", f"train.exact_reductions={exact}",
                                      f"data.batch_size={args.batch}"])
        step = SegmentationTask().compile_step(config, mesh, [np.ones(5, np.int64)])
        state = build_state(config, mesh, (args.size, args.size))
        state, _ = jax.block_until_ready(step(state, batch))  # compiles
        runs[exact] = [step, state, []]
    for _ in range(args.steps):  # alternate, so that load changes hit both alike
        for exact, run in runs.items():
            start = time.perf_counter()
            run[1], _ = jax.block_until_ready(run[0](run[1], batch))
            run[2].append(time.perf_counter() - start)
    medians = {exact: statistics.median(run[2]) for exact, run in runs.items()}
    ratio = medians[False] / medians[True]
    print(f"{jax.device_count()} x {jax.devices()[0].device_kind}, batch {args.batch} x {args.size}^2: "
          f"exact {medians[True] * 1e3:.1f} ms, float32 all-reduce {medians[False] * 1e3:.1f} ms per step; "
          f"speed of exact relative to float: {ratio:.3f}")
    rows = [[f"demo U-Net, batch {args.batch} x {args.size}^2 on {jax.device_count()} devices",
             medians[True] * 1e3, medians[False] * 1e3, ratio]]
    write_results("exact_reductions", {"batch": args.batch, "size": args.size, "steps": args.steps,
                                       "devices": jax.device_count(),
                                       "seconds": {"exact": runs[True][2], "float": runs[False][2]}},
                  markdown(["step", "exact ms", "float32 all-reduce ms", "speed exact / float"], rows))


if __name__ == "__main__":
    main()
