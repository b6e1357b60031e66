"""jaxseg against PyTorch on the same device: the seed networks' train steps, alternating A/B.

Each side gets its fair fast settings: jaxseg computes in bfloat16 (model.dtype, float32 parameters);
PyTorch runs under autocast to bfloat16 (AMP) with channels_last memory format and, where it works,
torch.compile. Both step Adam on a Dice + cross-entropy loss over one random batch kept on the
device. The timing alternates blocks of steps of A and B in one process, so a change of machine
load hits both; the ratio is jaxseg samples/s over PyTorch samples/s (> 1: jaxseg is faster).
The networks have the same layers and parameter counts (checked and recorded), except nnU-Net's,
where MONAI's DynUNet stands in.

    python benchmarks/torch_compare.py [--reduced] [--rounds 3] [--steps 2] [--torch-compile auto|on|off]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time

# Both frameworks share one GPU: JAX must not take 75% of its memory up front.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import jax  # noqa: E402
import torch  # noqa: E402

from results_io import markdown, write_results
from seed_cases import CASES, case_config
from torch_models import dice_ce_loss, parameter_count, torch_network

from jaxseg.models import downsampling_factor
from jaxseg.perf.step_cost import lower_train_step, random_batch
from jaxseg.train.build import build_state
from jaxseg.train.mesh import make_mesh
from jaxseg.train.state import parameter_count as jax_parameter_count


def jax_runner(name: str, batch: int, spatial: tuple[int, ...]):
    """(step function running one synchronised jaxseg train step, parameter count, compile seconds)."""
    config = case_config(name, "bfloat16", False, batch)
    mesh = make_mesh(1)
    holder = {"state": build_state(config, mesh, spatial)}
    start = time.perf_counter()
    compiled = lower_train_step(config, batch, spatial, mesh, holder["state"]).compile()
    compile_s = time.perf_counter() - start
    data = random_batch(config, batch, spatial, mesh)

    def step():
        holder["state"], metrics = compiled(holder["state"], data)
        jax.block_until_ready(metrics)

    return step, jax_parameter_count(holder["state"].params), compile_s


def torch_runner(name: str, batch: int, spatial: tuple[int, ...], compile_mode: str, device: str):
    """(step function, parameter count, whether torch.compile is used, first-step seconds)."""
    case = CASES[name]
    head = {"head": "softmax"} if case.preset in ("pig_ct_2d", "pig_ct_3d", "unet2d_sigmoid") else {}
    model = torch_network(case.preset, len(spatial), case.in_channels, case.num_classes, **head).to(device)
    layout = torch.channels_last_3d if len(spatial) == 3 else torch.channels_last
    model = model.to(memory_format=layout).train()
    compiled = compile_mode == "on" or (compile_mode == "auto" and device == "cuda")
    forward = torch.compile(model) if compiled else model
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(batch, case.in_channels, *spatial, generator=generator).to(device, memory_format=layout)
    y = torch.randint(0, case.num_classes, (batch, *spatial), generator=generator).to(device)

    def step():
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device_type=device, dtype=torch.bfloat16):
            logits = forward(x)
        dice_ce_loss(logits, y).backward()
        optimizer.step()
        if device == "cuda":
            torch.cuda.synchronize()

    start = time.perf_counter()
    step()  # Warm-up (and, compiled, the compilation).
    return step, parameter_count(model), compiled, time.perf_counter() - start


def timed(step, count: int) -> list[float]:
    seconds = []
    for _ in range(count):
        start = time.perf_counter()
        step()
        seconds.append(time.perf_counter() - start)
    return seconds


def compare(name: str, reduced: bool, rounds: int, steps: int, compile_mode: str) -> dict:
    case = CASES[name]
    batch, spatial = comparable_shape(name, reduced)
    device = "cuda" if torch.cuda.is_available() and jax.default_backend() == "gpu" else "cpu"
    jax_step, jax_params, jax_compile_s = jax_runner(name, batch, spatial)
    jax_step()  # Warm-up.
    torch_step, torch_params, compiled, torch_first_s = torch_runner(name, batch, spatial, compile_mode, device)
    jax_s, torch_s = [], []
    for _ in range(rounds):  # A/B alternation.
        jax_s += timed(jax_step, steps)
        torch_s += timed(torch_step, steps)
    jax_median, torch_median = statistics.median(jax_s), statistics.median(torch_s)
    return {"case": name, "preset": case.preset, "batch": batch, "spatial": list(spatial),
            "jax_params": jax_params, "torch_params": torch_params,
            "torch_network": "MONAI DynUNet" if case.preset == "nnunet_3d" else "TorchUNet (benchmarks/torch_models.py)",
            "torch_device": device, "torch_compile": compiled, "jax_compile_s": jax_compile_s,
            "torch_first_step_s": torch_first_s, "jax_step_s": jax_median, "torch_step_s": torch_median,
            "jax_samples_per_s": batch / jax_median, "torch_samples_per_s": batch / torch_median,
            "ratio_jax_over_torch": torch_median / jax_median, "jax_step_s_all": jax_s, "torch_step_s_all": torch_s}


def comparable_shape(name: str, reduced: bool) -> tuple[int, tuple[int, ...]]:
    """The case's batch and shape, with batch 2 where a reduced input leaves one voxel at the bottom:
    PyTorch's batch norm refuses one value per channel in training (jaxseg's computes zero variance)."""
    batch, spatial = CASES[name].shape(reduced)
    bottom = math.prod(s // downsampling_factor(case_config(name).model) for s in spatial)
    return (2 if batch * bottom < 2 else batch), spatial


def skip_reason(name: str, reduced: bool) -> str | None:
    batch, spatial = CASES[name].shape(reduced)
    if CASES[name].preset == "nnunet_3d" and min(spatial) // 32 < 2:
        # PyTorch's instance norm refuses a 1-voxel bottleneck in training; the smallest valid input
        # (64 x 64 x 32) costs ~80 GFLOP per step, beyond the reduced CPU budget.
        return f"DynUNet cannot train at {spatial}: instance norm over a 1-voxel bottleneck"
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reduced", action="store_true")
    parser.add_argument("--rounds", type=int, default=3, help="A/B alternations")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per side per round")
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--torch-compile", default="auto", choices=("auto", "on", "off"),
                        help="auto: on GPUs (on CPUs inductor's compile time exceeds the reduced budget)")
    args = parser.parse_args()
    rows, table_rows = [], []
    for name in args.cases.split(","):
        reason = skip_reason(name, args.reduced)
        row = {"case": name, "skipped": reason} if reason else compare(
            name, args.reduced, args.rounds, args.steps, args.torch_compile)
        rows.append(row)
        print({k: v for k, v in row.items() if not k.endswith("_all")})
        if reason:
            table_rows.append([name, "", "", reason, "", "", "", ""])
            continue
        table_rows.append([name, f"{row['batch']}x{'x'.join(map(str, row['spatial']))}",
                           f"{row['jax_params']:,} / {row['torch_params']:,}",
                           f"{row['torch_network']}{', compiled' if row['torch_compile'] else ''}",
                           row["jax_samples_per_s"], row["torch_samples_per_s"], row["ratio_jax_over_torch"],
                           row["jax_compile_s"]])
    header = ["case", "batch x shape", "params jax / torch", "PyTorch side", "jaxseg bf16 samples/s",
              "PyTorch AMP samples/s", "ratio jaxseg/PyTorch", "jax compile s"]
    write_results("torch_compare", {"reduced": args.reduced, "torch": torch.__version__, "rows": rows},
                  markdown(header, table_rows))


if __name__ == "__main__":
    main()
