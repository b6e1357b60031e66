"""Whole-volume inference, jaxseg against PyTorch + MONAI on the same device: a 2D U-Net slice by
slice and a 3D U-Net by Gaussian-blended sliding window (overlap 0.5) over one 256 x 256 x 64 volume.

This is what a user times when segmenting a case, so both sides include the host-side work around
the network: jaxseg's `predict_by_slices` / `sliding_window_predict` with a `Predictor`'s compiled
probabilities (softmax), against PyTorch slice batches / `monai.inferers.sliding_window_inference`
with the same windows, batch of windows, blending and softmax. The networks are the same U-Net
(`unet` preset, the demo's widths 16-128, batch norm in inference mode) with equal parameter counts
(recorded); weights are random (they do not change the cost). float32 on both sides, PyTorch
channels_last, eager (torch.compile on GPUs). The volumes alternate A/B in one process, so a change
of machine load hits both; the ratio is PyTorch seconds over jaxseg seconds (> 1: jaxseg is faster).

    python benchmarks/sliding_window_compare.py [--cases unet_2d,unet_3d] [--rounds 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import time

import jax
import numpy as np
import torch
from monai.inferers import sliding_window_inference
from results_io import markdown, write_results
from torch_models import parameter_count, torch_network

from jaxseg.config import base_config, set_value, validate
from jaxseg.core.mesh import local_mesh
from jaxseg.core.state import parameter_count as jax_parameter_count
from jaxseg.inference.planes import predict_by_slices
from jaxseg.inference.predictor import Predictor
from jaxseg.inference.sliding_window import sliding_window_predict
from jaxseg.train.build import build_state

VOLUME = (256, 256, 64)  # (I, J, K): K is the slice axis of the 2D case.
FEATURES = (16, 32, 64, 128)
CLASSES = 5


@dataclasses.dataclass(frozen=True)
class Case:
    window: tuple[int, ...]  # A 2D slice (I, J) or a 3D window.
    batch: int  # Slices or windows per network call.


CASES = {"unet_2d": Case((256, 256), 8), "unet_3d": Case((64, 64, 64), 2)}


def config_for(case: Case):
    config = base_config()
    for key, value in {"model.name": "unet", "model.features": FEATURES, "model.num_classes": CLASSES,
                       "model.in_channels": 1, "inference.batch_size": case.batch}.items():
        set_value(config, key, value)
    validate(config)
    return config


def jax_segmenter(case: Case, volume: np.ndarray) -> tuple[callable, int, float]:
    """(volume -> probabilities, parameter count, seconds of the first call: compilation)."""
    config, mesh = config_for(case), local_mesh()
    predictor = Predictor.create(config, build_state(config, mesh, case.window), mesh)

    def segment() -> np.ndarray:
        if len(case.window) == 2:
            return predict_by_slices(predictor.probabilities, volume, 2, case.batch, 8, 0.0)
        return sliding_window_predict(predictor.probabilities, volume[..., None], case.window, 0.5, "gaussian",
                                      batch_size=case.batch)

    start = time.perf_counter()
    segment()
    return segment, jax_parameter_count(predictor.state.params), time.perf_counter() - start


def torch_segmenter(case: Case, volume: np.ndarray, device: str, compiled: bool) -> tuple[callable, int, float]:
    rank = len(case.window)
    model = torch_network("unet", rank, 1, CLASSES, features=FEATURES).to(device).eval()
    layout = torch.channels_last_3d if rank == 3 else torch.channels_last
    model = model.to(memory_format=layout)
    forward = torch.compile(model) if compiled else model

    def probabilities(windows: torch.Tensor) -> torch.Tensor:
        return torch.softmax(forward(windows.contiguous(memory_format=layout)), dim=1)

    def segment() -> np.ndarray:
        with torch.inference_mode():
            if rank == 2:  # (K, 1, I, J) slices in batches, as jaxseg's predict_by_slices.
                slices = torch.from_numpy(np.ascontiguousarray(np.moveaxis(volume, 2, 0)[:, None])).to(device)
                out = torch.cat([probabilities(slices[k : k + case.batch]) for k in range(0, len(slices), case.batch)])
            else:
                image = torch.from_numpy(volume[None, None]).to(device)
                out = sliding_window_inference(image, case.window, case.batch, probabilities, overlap=0.5,
                                               mode="gaussian", sigma_scale=0.125)
            if device == "cuda":
                torch.cuda.synchronize()
            return out.cpu().numpy()

    start = time.perf_counter()
    segment()
    return segment, parameter_count(model), time.perf_counter() - start


def seconds_of(segment: callable) -> float:
    start = time.perf_counter()
    segment()
    return time.perf_counter() - start


def compare(name: str, rounds: int, device: str, compiled: bool) -> dict:
    case = CASES[name]
    volume = np.random.default_rng(0).standard_normal(VOLUME, dtype=np.float32)
    jax_segment, jax_params, jax_first_s = jax_segmenter(case, volume)
    torch_segment, torch_params, torch_first_s = torch_segmenter(case, volume, device, compiled)
    seconds = {"jax": [], "torch": []}
    for _ in range(rounds):
        seconds["jax"].append(seconds_of(jax_segment))
        seconds["torch"].append(seconds_of(torch_segment))
    jax_s, torch_s = statistics.median(seconds["jax"]), statistics.median(seconds["torch"])
    return {"case": name, "volume": list(VOLUME), "window": list(case.window), "batch": case.batch,
            "overlap": 0.5 if len(case.window) == 3 else None, "jax_params": jax_params, "torch_params": torch_params,
            "torch_device": device, "torch_compile": compiled, "jax_first_s": jax_first_s,
            "torch_first_s": torch_first_s, "jax_s": jax_s, "torch_s": torch_s, "ratio_jax_over_torch": torch_s / jax_s,
            "jax_s_all": seconds["jax"], "torch_s_all": seconds["torch"]}


def table(rows: list[dict]) -> str:
    header = ["case", "volume", "window x batch", "params jax / torch", "jaxseg s", "PyTorch s",
              "ratio jaxseg/PyTorch", "jaxseg first call s"]
    return markdown(header, [[r["case"], "x".join(map(str, r["volume"])),
                              f"{'x'.join(map(str, r['window']))} x {r['batch']}",
                              f"{r['jax_params']:,} / {r['torch_params']:,}", r["jax_s"], r["torch_s"],
                              r["ratio_jax_over_torch"], r["jax_first_s"]] for r in rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--rounds", type=int, default=3, help="A/B alternations (one volume per side each)")
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() and jax.default_backend() == "gpu" else "cpu"
    load_start, start, rows = os.getloadavg(), time.perf_counter(), []
    for name in args.cases.split(","):
        rows.append(compare(name, args.rounds, device, compiled=device == "cuda"))
        print({k: v for k, v in rows[-1].items() if not k.endswith("_all")}, flush=True)
        payload = {"torch": torch.__version__, "torch_threads": torch.get_num_threads(),
                   "cpus_usable": len(os.sched_getaffinity(0)), "load_average_start": load_start,
                   "wall_s": time.perf_counter() - start,
                   "command": "python benchmarks/sliding_window_compare.py " + " ".join(sys.argv[1:]), "rows": rows}
        write_results("sliding_window_compare", payload, table(rows))


if __name__ == "__main__":
    main()
