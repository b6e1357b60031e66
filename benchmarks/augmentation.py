"""Augmentation on the CPU (scipy, in the loader's workers) against on the device (jaxseg.data.device_augment).

Per sample, at 2D 512^2 and 3D 96^3 / 128^3, for two recipes: nnU-Net's probabilities (as
benchmarks/data_pipeline.py) and "heavy" (rotation, scaling and elastic deformation on every sample,
plus nnU-Net's intensity transforms). Three costs:
- cpu_path_ms: what a worker spends per sample today (augment.warp + IntensityAugmentation on a
  volume in memory), mean over the samples (the probabilities make single samples vary);
- device_ms: the jit-compiled batched device transform, mean over calls, divided by the batch;
  on a CPU backend this runs on the same cores as everything else;
- loader_crop_ms: what a worker spends per sample with augment.device (the margin crop only).

    python benchmarks/augmentation.py [--reduced] [--steps 8]
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from results_io import markdown, write_results
from scipy import ndimage

from jaxseg.data.augment import DeviceCrop, SpatialAugmentation, warp
from jaxseg.data.device_augment import DeviceAugmentation, block_margin
from jaxseg.data.intensity import IntensityAugmentation

NNUNET = {"flip_p": 0.5, "rotate_p": 0.2, "rotate_deg": 30.0, "scale_p": 0.2, "scale_range": (0.7, 1.4)}
INTENSITY = IntensityAugmentation(noise_p=0.1, blur_p=0.2, brightness_p=0.15, contrast_p=0.15, gamma_p=0.3)
RECIPES = {
    "nnunet": SpatialAugmentation(**NNUNET),
    "heavy": SpatialAugmentation(**{**NNUNET, "rotate_p": 1.0, "scale_p": 1.0, "elastic_p": 1.0}),
}
# (name, sample shape, batch of the device call)
SHAPES = [("2d_512", (512, 512), 4), ("3d_96", (96, 96, 96), 2), ("3d_128", (128, 128, 128), 2)]


def volume(shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """A smooth image (*S, 1) float32 and a 5-valued label map, 1.5x the sample on each axis."""
    big = tuple(int(s * 1.5) for s in shape)
    rng = np.random.default_rng(0)
    coarse = rng.standard_normal(tuple(max(2, s // 16) for s in big))
    smooth = ndimage.zoom(coarse, [b / c for b, c in zip(big, coarse.shape)], order=1)
    label = np.digitize(smooth, [-0.5, 0.0, 0.5, 1.0]).astype(np.uint8)
    return (smooth * 100).astype(np.float32)[..., None], label


def cpu_ms(image, label, shape, spatial, intensity, samples: int) -> float:
    """Mean milliseconds per sample of the loader's work: crop or transform + intensity."""
    origin = (np.asarray(label.shape) - shape) // 2
    fill = np.zeros(1, np.float32)
    start = time.perf_counter()
    for i in range(samples):
        rng = np.random.default_rng([0, i])
        out, _ = warp(image, [label], origin, shape, spatial, rng, fill)
        intensity(out, rng)
    return (time.perf_counter() - start) / samples * 1e3


def device_ms(image, label, shape, spatial, batch: int, steps: int) -> tuple[float, tuple[int, ...]]:
    """Mean milliseconds per sample of the jit-compiled device transform over `steps` calls (steps 1, 2, ...:
    fresh draws, whose probabilities decide what is computed), and the margin it needs."""
    margin = block_margin(shape, spatial)
    origin = (np.asarray(label.shape) - shape) // 2
    blocks = warp(image, [label], origin, shape, DeviceCrop(margin), None, np.zeros(1, np.float32))
    data = {"image": jnp.asarray(np.stack([blocks[0]] * batch)),
            "label": jnp.asarray(np.stack([blocks[1][0].astype(np.int32)] * batch))}
    augment = jax.jit(DeviceAugmentation(spatial, INTENSITY, margin))
    key = jax.random.key_data(jax.random.key(0))
    jax.block_until_ready(augment(key, jnp.int32(0), data))  # compilation
    start = time.perf_counter()
    for step in range(1, steps + 1):
        jax.block_until_ready(augment(key, jnp.int32(step), data))
    return (time.perf_counter() - start) / steps / batch * 1e3, margin


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reduced", action="store_true", help="fewer CPU samples, the 'heavy' recipe at 128^3 skipped")
    parser.add_argument("--steps", type=int, default=8, help="timed device calls per case (mean)")
    args = parser.parse_args()
    samples = 4 if args.reduced else 16
    rows, results = [], []
    for name, shape, batch in SHAPES:
        image, label = volume(shape)
        for recipe, spatial in RECIPES.items():
            if args.reduced and recipe == "heavy" and name == "3d_128":
                continue
            cpu = cpu_ms(image, label, shape, spatial, INTENSITY, samples)
            device, margin = device_ms(image, label, shape, spatial, batch, args.steps)
            crop = cpu_ms(image, label, shape, DeviceCrop(margin), IntensityAugmentation(), samples)
            result = {"shape": name, "recipe": recipe, "margin": margin, "device_batch": batch,
                      "cpu_path_ms": cpu, "device_ms": device, "loader_crop_ms": crop,
                      "device_over_cpu": device / cpu, "loader_cpu_saved": 1 - crop / cpu}
            results.append(result)
            rows.append([name, recipe, "x".join(map(str, margin)), cpu, device, crop, device / cpu])
            print(result, flush=True)
    table = markdown(["shape", "recipe", "margin", "CPU path ms/sample", "device ms/sample", "loader crop ms/sample",
                      "device / CPU"], rows)
    table += (f"\n\n{'Reduced: ' if args.reduced else ''}{samples} CPU-path samples and {args.steps} device calls per "
              f"row; the device path runs on the CPU backend, on the same {os.cpu_count()} cores, shared with other "
              f"jobs (load average {os.getloadavg()[0]:.1f} at the end): contended timings, expect ~2x run-to-run "
              f"spread.")
    print(table)
    write_results("augmentation", {"reduced": args.reduced, "steps": args.steps, "cpu_samples": samples,
                                   "results": results}, table)


if __name__ == "__main__":
    main()
