"""XLA:CPU settings against each other (and PyTorch) on the forward pass of a 2D and a 3D U-Net.

Why XLA:CPU trails PyTorch's oneDNN on convolutions, and what this jaxlib offers against it: each
candidate is an XLA compile option (the same names as XLA_FLAGS' --xla_cpu_* flags: oneDNN,
XNNPACK and YNNPACK convolution paths, single-threaded Eigen, fast math), passed per compilation so
that every candidate is timed in one process, alternating, and a change of machine load hits all
alike; plus jaxseg's own 3D convolution lowering (jaxseg/models/cpu_conv.py: 2D convolutions over
the depth taps) against XLA's native 3D convolution. Each candidate's output is compared with the
default's (max |difference| / max |default|). PyTorch's eval-mode forward (float32, channels_last)
is timed alongside when torch is installed.

    python benchmarks/cpu_flags.py [--rounds 3] [--cases nuclei,kayalibay]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import jax
import numpy as np
from jax import lax
from results_io import markdown, write_results
from seed_cases import CASES, case_config

from jaxseg.core.mesh import make_mesh
from jaxseg.core.state import model_variables
from jaxseg.models import cpu_conv
from jaxseg.perf.step_cost import random_batch
from jaxseg.train.build import build_state

SHAPES = {"nuclei": (4, (64, 64)), "kayalibay": (1, (48, 48, 48))}  # torch_compare.py's reduced shapes
FUSION = "LIBRARY_FUSION_TYPE_INDIVIDUAL_CONVOLUTION"
# name -> (XLA compile options, whether 3D convolutions use XLA's native lowering).
CANDIDATES = {
    "default": ({}, False),
    "native 3D convolution": ({}, True),
    "xla_cpu_use_xnnpack": ({"xla_cpu_use_xnnpack": True}, False),
    "xnn convolution fusion": ({"xla_cpu_experimental_xnn_fusion_type": FUSION}, False),
    "ynn convolution fusion": ({"xla_cpu_experimental_ynn_fusion_type": FUSION}, False),
    "xla_cpu_use_onednn": ({"xla_cpu_use_onednn": True}, False),
    "onednn convolution fusion": ({"xla_cpu_experimental_onednn_fusion_type": FUSION}, False),
    "onednn custom call": ({"xla_cpu_experimental_onednn_custom_call": True}, False),
    "single-threaded eigen": ({"xla_cpu_multi_thread_eigen": False}, False),
    "fast math": ({"xla_cpu_enable_fast_math": True}, False),
}


@contextlib.contextmanager
def native_3d(enabled: bool):
    """While tracing, 3D convolutions lower to XLA's native convolution instead of the depth taps."""
    saved = cpu_conv.conv_general_dilated
    if enabled:
        cpu_conv.conv_general_dilated = lax.conv_general_dilated
    try:
        yield
    finally:
        cpu_conv.conv_general_dilated = saved


def torch_forward(name: str, batch: int, spatial: tuple[int, ...]):
    """PyTorch's eval-mode float32 forward of the same network, or None without torch."""
    try:
        import torch
        from torch_models import torch_network
    except ImportError:
        return None
    case = CASES[name]
    head = {"head": "softmax"} if case.preset in ("pig_ct_2d", "pig_ct_3d", "unet2d_sigmoid") else {}
    layout = torch.channels_last_3d if len(spatial) == 3 else torch.channels_last
    model = torch_network(case.preset, len(spatial), case.in_channels, case.num_classes, **head)
    model = model.to(memory_format=layout).eval()
    x = torch.randn(batch, case.in_channels, *spatial).to(memory_format=layout)

    def run():
        with torch.inference_mode():
            model(x)

    return run


def measure(name: str, rounds: int) -> list[dict]:
    batch, spatial = SHAPES[name]
    config = case_config(name, "float32", False, batch)
    mesh = make_mesh(1)
    state = build_state(config, mesh, spatial)
    variables, image = model_variables(state), random_batch(config, batch, spatial, mesh)["image"]
    runs, outputs, compile_s = {}, {}, {}
    for candidate, (options, native) in CANDIDATES.items():
        if native and len(spatial) != 3:
            continue
        start = time.perf_counter()
        with native_3d(native):  # A new jit per candidate: a cached trace would keep the last lowering.
            forward = jax.jit(lambda variables, image: state.apply_fn(variables, image, train=False))
            compiled = forward.lower(variables, image).compile(compiler_options=options)
        compile_s[candidate] = time.perf_counter() - start
        runs[candidate] = lambda compiled=compiled: jax.block_until_ready(compiled(variables, image))
        outputs[candidate] = np.asarray(jax.tree.leaves(runs[candidate]())[0])
    torch_run = torch_forward(name, batch, spatial)
    if torch_run is not None:
        torch_run()  # Warm-up.
        runs["PyTorch (oneDNN)"] = torch_run
    seconds = {candidate: [] for candidate in runs}
    for _ in range(rounds):  # Every candidate once per round.
        for candidate, run in runs.items():
            start = time.perf_counter()
            run()
            seconds[candidate].append(time.perf_counter() - start)
    default_s, reference = statistics.median(seconds["default"]), outputs["default"]
    rows = []
    for candidate, times in seconds.items():
        median = statistics.median(times)
        difference = (float(np.abs(outputs[candidate] - reference).max() / np.abs(reference).max())
                      if candidate in outputs else None)
        rows.append({"case": name, "preset": CASES[name].preset, "batch": batch, "spatial": list(spatial),
                     "candidate": candidate, "options": CANDIDATES.get(candidate, ({},))[0],
                     "forward_s": median, "speedup_over_default": default_s / median,
                     "relative_difference": difference, "compile_s": compile_s.get(candidate), "seconds": times})
        print({k: v for k, v in rows[-1].items() if k != "seconds"}, flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cases", default=",".join(SHAPES))
    args = parser.parse_args()
    rows = [row for name in args.cases.split(",") for row in measure(name, args.rounds)]
    header = ["case", "batch x shape", "candidate", "forward s", "speedup over default", "max rel. difference",
              "compile s"]
    table = markdown(header, [[r["case"], f"{r['batch']}x{'x'.join(map(str, r['spatial']))}", r["candidate"],
                               r["forward_s"], r["speedup_over_default"], r["relative_difference"], r["compile_s"]]
                              for r in rows])
    write_results("cpu_flags", {"rows": rows}, table)


if __name__ == "__main__":
    main()
