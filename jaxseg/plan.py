"""`jaxseg plan`: the largest batch (or patch) whose train step fits a memory budget, and its speed.

The memory model is XLA's compiled memory analysis of the train step `jaxseg train` runs
(`jaxseg.perf.step_cost.StepMemory.peak_bytes`, per device). It is backend-dependent: a plan made
on a CPU says what XLA's CPU compiler would need, not what cuDNN on a GPU needs; plan on the target
backend where possible. On a GPU the answer is confirmed by running a few steps in a subprocess whose
JAX memory pool is capped to the budget (XLA_PYTHON_CLIENT_MEM_FRACTION).
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
from collections.abc import Callable, Sequence

import jax
import ml_collections

from jaxseg.config import ConfigError, config_from_json
from jaxseg.core.mesh import mesh_from_config
from jaxseg.models import downsampling_factor
from jaxseg.models.info import config_model_info
from jaxseg.perf.step_cost import compile_train_step_for, random_batch, step_memory, time_steps
from jaxseg.tasks import get_task
from jaxseg.tasks.segmentation import SegmentationTask
from jaxseg.train.build import build_state

_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
# JAX's default share of GPU memory (docs.jax.dev gpu-memory-allocation).
DEFAULT_MEM_FRACTION = 0.75


def parse_bytes(text: str) -> int:
    """"8GiB" -> 8589934592, "8GB" -> 8000000000, "512MiB", "1e9" (bytes); ValueError otherwise."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([a-z]*)\s*", text.lower())
    if not match or match.group(2) not in _UNITS:
        raise ValueError(f"memory budget {text!r}: expected a size such as 8GiB, 8GB or 512MiB")
    value = int(float(match.group(1)) * _UNITS[match.group(2)])
    if value <= 0:
        raise ValueError(f"memory budget {text!r} must be positive")
    return value


def default_spatial_shape(config: ml_collections.ConfigDict) -> tuple[int, ...]:
    """The training input's spatial shape the config implies without reading data: sampling.block_shape
    for blocks; prepare.slice_size, else the phantom's in-plane size, for 2D slices or pairs (padded
    to the network's multiple as the sampler pads). Otherwise the data decides it and the caller
    must give one (ConfigError)."""
    if config.data.sampler == "blocks":
        return tuple(config.sampling.block_shape)
    if config.prepare.slice_size and config.data.sampler in ("slices", "pairs"):
        factor = downsampling_factor(config.model)
        return tuple(-(-s // factor) * factor for s in config.prepare.slice_size)
    if config.data.source == "phantom" and config.data.sampler in ("slices", "pairs"):
        plane = {"axial": (0, 1), "coronal": (0, 2), "sagittal": (1, 2)}[config.data.plane]
        factor = downsampling_factor(config.model)
        return tuple(-(-config.phantom.shape[a] // factor) * factor for a in plane)  # Padded as the sampler pads.
    raise ConfigError(f"config '{config.name}': the input size of data.sampler = {config.data.sampler!r} on "
                      f"data.source = {config.data.source!r} depends on the data; give the spatial shape")


def trained_network_info(config: ml_collections.ConfigDict, input_shape: Sequence[int] | None = None) -> dict:
    """`jaxseg model-info --config`: `config_model_info` of the network the config trains, for one
    input of `input_shape` (*spatial, model.in_channels), default the config's training input
    (`default_spatial_shape`), else the preset's reference size. Adds "config" (its name)."""
    if not isinstance(get_task(config.task), SegmentationTask):
        raise ConfigError(f"config '{config.name}' trains task = {config.task!r}: model-info describes "
                          "segmentation networks")
    if input_shape is not None and tuple(input_shape)[-1:] != (config.model.in_channels,):
        raise ConfigError(f"input shape {tuple(input_shape)}: the last size is the channels, and config "
                          f"'{config.name}' has 'model.in_channels' = {config.model.in_channels}")
    try:
        spatial = tuple(input_shape)[:-1] if input_shape is not None else default_spatial_shape(config)
    except ConfigError:
        spatial = None  # The data decides the training size: the preset's reference input stands in.
    return {"config": config.name, **config_model_info(config.model, spatial)}


def largest_fitting(fits: Callable[[int], bool], unit: int = 1, limit: int = 2**16) -> int:
    """The largest multiple n of `unit` (n <= limit) with fits(n), for a monotone `fits` (true up to
    some n, false after); 0 when fits(unit) is false. Doubles, then bisects: O(log n) calls."""
    if not fits(unit):
        return 0
    good, bad, top = unit, None, limit // unit * unit
    while bad is None:
        candidate = min(2 * good, top)
        if candidate == good:
            return good
        if fits(candidate):
            good = candidate
        else:
            bad = candidate
    while bad - good > unit:
        middle = (good + bad) // 2 // unit * unit
        good, bad = (middle, bad) if fits(middle) else (good, middle)
    return good


def plan(config: ml_collections.ConfigDict, budget_bytes: int, spatial: Sequence[int] | None = None,
         patch: bool = False, steps: int = 3, confirm: bool | None = None) -> dict:
    """The largest global batch (multiple of the data-axis device count) whose train step at `spatial`
    fits `budget_bytes` per device; with `patch`, the largest cubic (3D) or square (2D) input, a
    multiple of the network's downsampling factor, at the config's data.batch_size.

    Then times `steps` steps at that size (samples/s), and on a GPU (`confirm` None means "on a
    GPU") runs it in a subprocess capped to the budget. Returns {"budget_bytes", "max_batch",
    "spatial_shape", "peak_bytes" (at the answer; at the smallest size when nothing fits), "fits",
    "step_s", "samples_per_s", "confirmed" (None: not run), "memory_model", "device"}; with patch
    also "max_patch".
    """
    mesh = mesh_from_config(config.mesh)
    spatial = tuple(spatial) if spatial else default_spatial_shape(config)
    factor = downsampling_factor(config.model)
    if any(s % factor for s in spatial):
        raise ConfigError(f"spatial shape {spatial} must be multiples of {factor} for model '{config.model.name}'")
    peaks: dict[tuple, int] = {}

    def peak(batch: int, shape: tuple[int, ...]) -> int:
        if (batch, shape) not in peaks:
            peaks[batch, shape] = step_memory(config, batch, shape, mesh).peak_bytes
        return peaks[batch, shape]

    if patch:
        batch = config.data.batch_size
        side = largest_fitting(lambda s: peak(batch, (s,) * len(spatial)) <= budget_bytes, factor, limit=4096)
        fits, shape = side > 0, (max(side, factor),) * len(spatial)
    else:
        shape = spatial
        batch = largest_fitting(lambda b: peak(b, shape) <= budget_bytes, mesh.size)
        fits, batch = batch > 0, max(batch, mesh.size)
    result = {"budget_bytes": budget_bytes, "max_batch": batch if fits else 0, "spatial_shape": list(shape),
              "peak_bytes": peak(batch, shape), "fits": fits, "step_s": None, "samples_per_s": None,
              "confirmed": None, "memory_model": f"XLA compiled memory analysis on {jax.default_backend()}",
              "device": f"{mesh.size} x {jax.devices()[0].device_kind}"}
    if patch:
        result["max_patch"] = side
    if not fits:
        return result
    if steps:
        step_s = statistics.median(measure_steps(config, batch, shape, steps))
        result.update(step_s=step_s, samples_per_s=batch / step_s)
    if confirm or (confirm is None and jax.default_backend() == "gpu"):
        result["confirmed"] = confirm_on_device(config, batch, shape, budget_bytes)
    return result


def measure_steps(config: ml_collections.ConfigDict, batch: int, spatial: Sequence[int], steps: int) -> list[float]:
    """Wall seconds of `steps` train steps after one warm-up step (see `time_steps`)."""
    mesh = mesh_from_config(config.mesh)
    state = build_state(config, mesh, tuple(spatial))
    compiled, _ = compile_train_step_for(config, batch, spatial, mesh, state)
    return time_steps(compiled, state, random_batch(config, batch, spatial, mesh), steps)[0]


def device_memory_bytes() -> int:
    """Total memory of device 0, from the pool limit JAX set and the fraction it was set from."""
    limit = jax.devices()[0].memory_stats()["bytes_limit"]
    return int(limit / float(os.environ.get("XLA_PYTHON_CLIENT_MEM_FRACTION", DEFAULT_MEM_FRACTION)))


def confirm_on_device(config: ml_collections.ConfigDict, batch: int, spatial: Sequence[int], budget_bytes: int,
                      steps: int = 2) -> bool:
    """True when `steps` train steps at this size run without running out of memory in a fresh process
    whose JAX pool is budget_bytes (XLA_PYTHON_CLIENT_MEM_FRACTION = budget / device memory)."""
    fraction = budget_bytes / device_memory_bytes()
    if fraction >= 1:
        return True  # The whole device is within the budget: the timing run above has confirmed it.
    env = {**os.environ, "XLA_PYTHON_CLIENT_MEM_FRACTION": f"{fraction:.4f}", "XLA_PYTHON_CLIENT_PREALLOCATE": "true"}
    code = (f"from jaxseg.plan import run_config_steps; "
            f"run_config_steps({config.to_json()!r}, {batch}, {tuple(spatial)!r}, {steps})")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if done.returncode and "RESOURCE_EXHAUSTED" not in done.stderr and "out of memory" not in done.stderr.lower():
        raise RuntimeError(f"the confirmation run failed for another reason than memory:\n{done.stderr[-2000:]}")
    return done.returncode == 0


def run_config_steps(config_json: str, batch: int, spatial: tuple[int, ...], steps: int) -> None:
    """The confirmation subprocess's work: `steps` train steps of a config given as JSON."""
    measure_steps(config_from_json(config_json), batch, spatial, steps)


def _size(n: float) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.2f} MiB"


def format_plan(result: dict) -> str:
    """The lines `jaxseg plan` prints."""
    what = (f"largest patch {result['max_patch']} per side at batch {result['max_batch']}" if "max_patch" in result
            else f"largest batch {result['max_batch']} at {tuple(result['spatial_shape'])}")
    lines = [f"budget {_size(result['budget_bytes'])} per device on {result['device']}",
             f"  {what}" if result["fits"] else "  nothing fits: even the smallest size exceeds the budget",
             f"  train-step peak   {_size(result['peak_bytes'])} ({result['memory_model']})"]
    if result["samples_per_s"]:
        lines.append(f"  throughput        {result['samples_per_s']:.2f} samples/s ({result['step_s']:.3f} s/step)")
    if result["confirmed"] is not None:
        lines.append(f"  confirmed by a capped run: {'yes' if result['confirmed'] else 'NO (out of memory)'}")
    return "\n".join(lines)
