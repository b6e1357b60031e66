"""jaxseg against PyTorch on the same device, like for like: each seed network's train step and its
forward pass (inference), in float32 against float32 and bfloat16 against PyTorch AMP bfloat16.

float32 is each side's default precision (on GPUs both may use TF32 where that is their default:
XLA's default precision, PyTorch's cuDNN convolutions). bfloat16 is jaxseg's `model.dtype=bfloat16`
(float32 parameters) against `torch.autocast(dtype=torch.bfloat16)`. PyTorch runs channels_last and,
on GPUs, torch.compile. Training steps Adam on a Dice + cross-entropy loss; inference is the forward
pass in eval mode (batch-norm running statistics, no gradients). Inputs are one random batch kept on
the device. The timing alternates blocks of steps of A and B in one process, so a change of machine
load hits both; the ratio is jaxseg samples/s over PyTorch samples/s (> 1: jaxseg is faster). The
networks have the same layers and parameter counts (recorded), except nnU-Net's, where MONAI's
DynUNet stands in.

Shapes: the seed's batch and input size, or (--reduced) CPU shapes that keep the convolutions, not
the optimiser, dominant: at least batch 4 x 64^2 in 2D and 48^3 in 3D (REDUCED).

    python benchmarks/torch_compare.py [--reduced] [--cases a,b] [--precisions float32,bfloat16]
                                       [--modes train,infer] [--rounds 3] [--steps 2] [--torch-compile auto|on|off]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

# Both frameworks share one GPU: JAX must not take 75% of its memory up front.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import jax  # noqa: E402
import torch  # noqa: E402
from results_io import markdown, write_results  # noqa: E402
from seed_cases import CASES, case_config  # noqa: E402
from torch_models import dice_ce_loss, parameter_count, torch_network  # noqa: E402

from jaxseg.core.mesh import make_mesh  # noqa: E402
from jaxseg.core.state import model_variables  # noqa: E402
from jaxseg.core.state import parameter_count as jax_parameter_count  # noqa: E402
from jaxseg.perf.peaks import achieved_tflops, lookup_peak  # noqa: E402
from jaxseg.perf.step_cost import lower_train_step, model_flops, random_batch  # noqa: E402
from jaxseg.train.build import build_state  # noqa: E402

# (batch, spatial) per case on CPUs. One network per entry: lungs and nuclei share unet2d_sigmoid.
REDUCED = {"pig_ct_2d": (4, (64, 64)), "nuclei": (4, (64, 64)), "propagation": (4, (64, 64)),
           "pig_ct_3d": (1, (48, 48, 48)), "kayalibay": (1, (48, 48, 48)), "nnunet_3d": (1, (64, 64, 64))}
# The reduced default: every distinct network but propagation (unet2d_sigmoid with a second input
# channel) and nnunet_3d (its 32x downsampling needs 64^3: ~4x the others' cost, over a 10-minute budget).
REDUCED_DEFAULT = ("pig_ct_2d", "nuclei", "pig_ct_3d", "kayalibay")
MODES = ("train", "infer")


def jax_runners(name: str, batch: int, spatial: tuple[int, ...], dtype: str,
                modes: tuple[str, ...] = MODES) -> tuple[dict, int, dict]:
    """({mode: function running one synchronised step}, parameter count, {mode: compile seconds})."""
    config = case_config(name, dtype, False, batch)
    mesh = make_mesh(1)
    holder = {"state": build_state(config, mesh, spatial)}
    data = random_batch(config, batch, spatial, mesh)
    apply_fn = holder["state"].apply_fn
    lowered = {"train": lambda: lower_train_step(config, batch, spatial, mesh, holder["state"]),
               "infer": lambda: jax.jit(lambda variables, image: apply_fn(variables, image, train=False)).lower(
                   model_variables(holder["state"]), data["image"])}
    compiled, compile_s = {}, {}
    for mode in modes:
        start = time.perf_counter()
        compiled[mode] = lowered[mode]().compile()
        compile_s[mode] = time.perf_counter() - start

    def train_step():
        holder["state"], metrics = compiled["train"](holder["state"], data)  # The state is donated.
        jax.block_until_ready(metrics)

    def infer_step():
        jax.block_until_ready(compiled["infer"](model_variables(holder["state"]), data["image"]))

    return {"train": train_step, "infer": infer_step}, jax_parameter_count(holder["state"].params), compile_s


def torch_runners(name: str, batch: int, spatial: tuple[int, ...], dtype: str, compiled: bool,
                  device: str, modes: tuple[str, ...] = MODES) -> tuple[dict, int, dict]:
    """({mode: function running one synchronised step}, parameter count, {mode: first-call seconds})."""
    case = CASES[name]
    head = {"head": "softmax"} if case.preset in ("pig_ct_2d", "pig_ct_3d", "unet2d_sigmoid") else {}
    model = torch_network(case.preset, len(spatial), case.in_channels, case.num_classes, **head).to(device)
    layout = torch.channels_last_3d if len(spatial) == 3 else torch.channels_last
    model = model.to(memory_format=layout)
    forward = torch.compile(model) if compiled else model
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(batch, case.in_channels, *spatial, generator=generator).to(device, memory_format=layout)
    y = torch.randint(0, case.num_classes, (batch, *spatial), generator=generator).to(device)
    # float32: no autocast at all (PyTorch's default precision); bfloat16: AMP.
    autocast = torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=dtype == "bfloat16")

    def sync():
        if device == "cuda":
            torch.cuda.synchronize()

    def train_step():
        model.train()
        optimizer.zero_grad(set_to_none=True)
        with autocast:
            logits = forward(x)
        dice_ce_loss(logits, y).backward()
        optimizer.step()
        sync()

    def infer_step():
        model.eval()
        with torch.inference_mode(), autocast:
            forward(x)
        sync()

    steps, first_s = {"train": train_step, "infer": infer_step}, {}
    for mode in modes:  # Warm-up (and, compiled, the compilation).
        start = time.perf_counter()
        steps[mode]()
        first_s[mode] = time.perf_counter() - start
    return steps, parameter_count(model), first_s


def timed(step, count: int) -> list[float]:
    seconds = []
    for _ in range(count):
        start = time.perf_counter()
        step()
        seconds.append(time.perf_counter() - start)
    return seconds


def compare(name: str, batch: int, spatial: tuple[int, ...], dtype: str, rounds: int, steps: int,
            compiled: bool, device: str, modes: tuple[str, ...] = MODES) -> list[dict]:
    """One row per mode (train, infer) for case `name` in `dtype`, timed alternately in one process."""
    jax_steps, jax_params, jax_compile_s = jax_runners(name, batch, spatial, dtype, modes)
    for mode in modes:
        jax_steps[mode]()  # Warm-up.
    torch_steps, torch_params, torch_first_s = torch_runners(name, batch, spatial, dtype, compiled, device, modes)
    seconds = {(side, mode): [] for side in ("jax", "torch") for mode in modes}
    for _ in range(rounds):  # A/B alternation, every mode in every round.
        for mode in modes:
            seconds["jax", mode] += timed(jax_steps[mode], steps)
            seconds["torch", mode] += timed(torch_steps[mode], steps)
    # Train-step model FLOPs (XLA's count of jaxseg's step, used for both sides: the same layers).
    flops = model_flops(case_config(name, dtype, False, batch), batch, spatial, make_mesh(1)) if "train" in modes else 0
    peak = lookup_peak(jax.devices()[0].device_kind)
    rows = []
    for mode in modes:
        jax_s, torch_s = statistics.median(seconds["jax", mode]), statistics.median(seconds["torch", mode])
        row = {"case": name, "preset": CASES[name].preset, "precision": dtype, "mode": mode, "batch": batch,
               "spatial": list(spatial), "jax_params": jax_params, "torch_params": torch_params,
               "torch_network": "MONAI DynUNet" if CASES[name].preset == "nnunet_3d" else
               "TorchUNet (benchmarks/torch_models.py)", "torch_device": device, "torch_compile": compiled,
               "jax_compile_s": jax_compile_s[mode], "torch_first_step_s": torch_first_s[mode],
               "jax_step_s": jax_s, "torch_step_s": torch_s, "jax_samples_per_s": batch / jax_s,
               "torch_samples_per_s": batch / torch_s, "ratio_jax_over_torch": torch_s / jax_s,
               "jax_step_s_all": seconds["jax", mode], "torch_step_s_all": seconds["torch", mode]}
        if mode == "train":
            row |= {"model_flops_per_step": flops, "jax_tflops": achieved_tflops(flops, jax_s),
                    "torch_tflops": achieved_tflops(flops, torch_s)}
            if peak is not None:  # MFU against the tabled peak (GPUs); CPUs have none tabled.
                row |= {"peak_tflops": peak.tflops[dtype], "jax_mfu": row["jax_tflops"] / peak.tflops[dtype],
                        "torch_mfu": row["torch_tflops"] / peak.tflops[dtype]}
        rows.append(row)
    return rows


def table(rows: list[dict]) -> str:
    header = ["case", "batch x shape", "params jax / torch", "precision", "mode", "jaxseg samples/s",
              "PyTorch samples/s", "ratio jaxseg/PyTorch", "MFU % jax / torch", "jax compile s"]
    lines = []
    for r in rows:
        mfu = f"{100 * r['jax_mfu']:.1f} / {100 * r['torch_mfu']:.1f}" if "jax_mfu" in r else ""
        lines.append([r["case"], f"{r['batch']}x{'x'.join(map(str, r['spatial']))}",
                      f"{r['jax_params']:,} / {r['torch_params']:,}", r["precision"], r["mode"],
                      r["jax_samples_per_s"], r["torch_samples_per_s"], r["ratio_jax_over_torch"], mfu,
                      r["jax_compile_s"]])
    return markdown(header, lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reduced", action="store_true", help="CPU shapes (REDUCED) instead of the seed shapes")
    parser.add_argument("--rounds", type=int, default=3, help="A/B alternations")
    parser.add_argument("--steps", type=int, default=2, help="timed steps per side, mode and round")
    parser.add_argument("--cases", help=f"comma-separated (default: all; reduced: {','.join(REDUCED_DEFAULT)})")
    parser.add_argument("--precisions", default="float32,bfloat16")
    parser.add_argument("--modes", default=",".join(MODES), help="train (forward, backward, Adam), infer (forward)")
    parser.add_argument("--torch-compile", default="auto", choices=("auto", "on", "off"),
                        help="auto: on GPUs (on CPUs inductor's compile time exceeds the reduced budget)")
    parser.add_argument("--name", default="torch_compare", help="results file name (results/<device>/NAME.json)")
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() and jax.default_backend() == "gpu" else "cpu"
    compiled = args.torch_compile == "on" or (args.torch_compile == "auto" and device == "cuda")
    names = args.cases.split(",") if args.cases else list(REDUCED_DEFAULT if args.reduced else CASES)
    load_start, start, rows = os.getloadavg(), time.perf_counter(), []
    for name in names:
        batch, spatial = REDUCED[name] if args.reduced else CASES[name].shape(False)
        for dtype in args.precisions.split(","):
            for row in compare(name, batch, spatial, dtype, args.rounds, args.steps, compiled, device,
                               tuple(args.modes.split(","))):
                rows.append(row)
                print({k: v for k, v in row.items() if not k.endswith("_all")}, flush=True)
            # Written after every case and precision, so an interrupted run keeps what it measured.
            payload = {"reduced": args.reduced, "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
                       "cpus_usable": len(os.sched_getaffinity(0)),
                       "load_average_start": load_start, "wall_s": time.perf_counter() - start,
                       "command": "python benchmarks/torch_compare.py " + " ".join(sys.argv[1:]), "rows": rows}
            write_results(args.name, payload, table(rows))


if __name__ == "__main__":
    main()
