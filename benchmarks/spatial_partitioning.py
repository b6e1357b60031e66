"""Per-device memory of a 3D train step when the volume's first spatial axis is split over devices.

Runs in one process with N forced CPU devices (or the GPUs present): the same 3D U-Net train step
on the same batch, with the slabs of `mesh.spatial` = 1, 2, 4, ... devices; prints and saves the
compiled per-device temporary memory and the loss of three steps for each, and the memory ratio.

    python benchmarks/spatial_partitioning.py [--size 64] [--devices 4] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64, help="cubic volume size in voxels (multiple of 4 x 4)")
    parser.add_argument("--devices", type=int, default=4, help="forced CPU devices when no accelerator is present")
    parser.add_argument("--out", help="JSON file (default: benchmarks/results/<platform>/spatial_partitioning.json)")
    args = parser.parse_args()
    os.environ.setdefault("XLA_FLAGS", f"--xla_force_host_platform_device_count={args.devices}")
    import jax
    import numpy as np

    from jaxseg.config import load_config
    from jaxseg.core.mesh import global_batch, make_mesh
    from jaxseg.train.build import build_state
    from jaxseg.train.objective import make_loss_fn
    from jaxseg.train.step import compile_train_step

    config = load_config("demo", ["data.root=unused", "model.features=(4,8,16)", "model.num_classes=3",
                                  "data.batch_size=2", "optimizer.schedule=constant", "optimizer.warmup_steps=0"])
    rng = np.random.default_rng(0)
    size = args.size
    batch = {"image": rng.normal(size=(2, size, size, size, 1)).astype(np.float32),
             "label": rng.integers(0, 3, size=(2, size, size, size)).astype(np.int32)}
    rows = []
    spatial = 1
    while spatial <= jax.local_device_count():
        mesh = make_mesh(1, spatial)
        state = build_state(config, mesh, (8, 8, 8))
        sharded = global_batch(batch, mesh)
        compiled = compile_train_step(make_loss_fn(config.loss), mesh).lower(state, sharded).compile()
        losses = []
        for _ in range(3):
            state, metrics = compiled(state, sharded)
            losses.append(float(metrics["loss"]))
        rows.append({"spatial_devices": spatial, "temp_bytes_per_device": compiled.memory_analysis().temp_size_in_bytes,
                     "losses": losses, "image_shard": list(sharded["image"].addressable_shards[0].data.shape)})
        spatial *= 2
    for row in rows:
        row["memory_ratio"] = row["temp_bytes_per_device"] / rows[0]["temp_bytes_per_device"]
        print(f"{row['spatial_devices']} device(s): {row['temp_bytes_per_device'] / 2**20:8.1f} MiB temporary "
              f"per device ({row['memory_ratio']:.2f} x), losses {['%.6f' % v for v in row['losses']]}")
    result = {"device": jax.devices()[0].device_kind, "batch": [2, size, size, size, 1], "rows": rows}
    out = (Path(args.out) if args.out
           else Path(__file__).parent / "results" / jax.default_backend() / "spatial_partitioning.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
