"""Peak arithmetic throughput and memory of accelerators, and model FLOPs utilisation (MFU).

Peaks are dense (no sparsity) TFLOP/s, from NVIDIA datasheets
(GeForce tensor rates with FP32 accumulation). "float32" is the rate JAX's default
matmul/conv precision reaches: TF32 tensor cores on Ampere and later (XLA's default on GPU), plain
FP32 before. Pascal cards (GTX 1070/1080) have no tensor cores, so bfloat16 runs at most at the FP32
rate; their FP32 figure is CUDA cores x 2 x boost clock. A CPU has no table entry: its peak is a
matmul measured on this machine (`measured_matmul_peak`).
"""

from __future__ import annotations

import dataclasses
import functools
import re
import time

import jax
import jax.numpy as jnp
import numpy as np


@dataclasses.dataclass(frozen=True)
class DevicePeak:
    name: str
    tflops: dict[str, float]  # dtype name ("float32", "bfloat16") -> dense TFLOP/s
    memory_gb: float  # 1e9 bytes
    bandwidth_tb_s: float


# (pattern matched against jax's device_kind, peak); the first match wins, so specific names come first.
PEAKS: tuple[tuple[str, DevicePeak], ...] = (
    (r"H100.*PCIe", DevicePeak("H100 PCIe", {"float32": 378.0, "bfloat16": 756.0}, 80, 2.0)),
    (r"H100", DevicePeak("H100 SXM", {"float32": 495.0, "bfloat16": 989.0}, 80, 3.35)),
    (r"H200", DevicePeak("H200", {"float32": 495.0, "bfloat16": 989.0}, 141, 4.8)),
    (r"A100.*80GB", DevicePeak("A100 80GB", {"float32": 156.0, "bfloat16": 312.0}, 80, 2.039)),
    (r"A100", DevicePeak("A100 40GB", {"float32": 156.0, "bfloat16": 312.0}, 40, 1.555)),
    (r"RTX 3070", DevicePeak("RTX 3070", {"float32": 20.3, "bfloat16": 40.6}, 8, 0.448)),
    # 2560 cores x 2 x 1.733 GHz; 1920 x 2 x 1.683 GHz. No tensor cores: bf16 gains nothing.
    (r"GTX 1080", DevicePeak("GTX 1080", {"float32": 8.87, "bfloat16": 8.87}, 8, 0.32)),
    (r"GTX 1070", DevicePeak("GTX 1070", {"float32": 6.46, "bfloat16": 6.46}, 8, 0.256)),
)


def lookup_peak(device_kind: str) -> DevicePeak | None:
    """The table entry for a jax `device_kind` such as "NVIDIA H100 80GB HBM3"; None if not tabled."""
    for pattern, peak in PEAKS:
        if re.search(pattern, device_kind, re.IGNORECASE):
            return peak
    return None


def measured_matmul_peak(dtype: str = "float32", size: int = 1024, repeats: int = 5) -> float:
    """TFLOP/s of a jit-compiled (size x size) @ (size x size) matmul on the default device, the
    fastest of `repeats` runs (the best this machine reaches on dense math: the CPU 'peak')."""
    a = jnp.asarray(np.random.default_rng(0).standard_normal((size, size)), dtype)
    matmul = jax.jit(lambda x: x @ x)
    matmul(a).block_until_ready()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        matmul(a).block_until_ready()
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e12


@functools.cache
def device_peak(dtype: str) -> tuple[float | None, str]:
    """(peak TFLOP/s of one device of the default backend in `dtype`, where it comes from): the table
    for known accelerators, a measured matmul on CPUs, (None, ...) for an untabled accelerator."""
    kind = jax.devices()[0].device_kind
    peak = lookup_peak(kind)
    if peak is not None:
        return peak.tflops[dtype], f"table: {peak.name}"
    if jax.default_backend() == "cpu":
        return measured_matmul_peak(dtype), "measured: 1024^2 matmul on this CPU"
    return None, f"no peak tabled for {kind}"


def achieved_tflops(flops_per_step: float, step_seconds: float) -> float:
    """Model TFLOP/s: FLOPs of one step (multiply-add = 2) over its wall time."""
    return flops_per_step / step_seconds / 1e12


def mfu(flops_per_step: float, step_seconds: float, peak_tflops: float, devices: int = 1) -> float:
    """Model FLOPs utilisation in [0, 1]: achieved model FLOP/s over the peak of `devices` devices.

    Model FLOPs leave out rematerialisation (PaLM, arXiv:2204.02311 App. B): pass the FLOPs of the
    step without remat also for a remat run.
    """
    return achieved_tflops(flops_per_step, step_seconds) / (peak_tflops * devices)


def device_name(device: jax.Device | None = None) -> str:
    """The device kind as a folder name: "NVIDIA H100 80GB HBM3" -> "nvidia-h100-80gb-hbm3", "cpu"."""
    kind = (device or jax.devices()[0]).device_kind
    return re.sub(r"[^a-z0-9]+", "-", kind.lower()).strip("-") or "unknown"
