"""Input pipeline against train step at the seeds' sizes: 2D 512x512 slices and 3D 96^3 blocks.

Builds a CT dataset of 512 x 512 x 128 volumes (phantoms upsampled to 0.75 x 0.75 x ~2 mm), then runs
`jaxseg bench data` logic on it with nnU-Net's augmentation probabilities, for each setting below,
and writes benchmarks/results/<platform>/data_pipeline.json.

    python benchmarks/data_pipeline.py [--cases 4] [--workers 2] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import jax
import numpy as np
from scipy import ndimage

from jaxseg.bench import next_to_step, pipeline_rate, task_training, train_rate
from jaxseg.config import load_config
from jaxseg.data.synthetic import LABELS, make_phantom
from jaxseg.io import Volume, write_nifti

# nnU-Net's augmentation (nnUNetTrainer): probabilities and ranges.
NNUNET_AUGMENT = {
    "augment.flip_p": 0.5, "augment.rotate_p": 0.2, "augment.rotate_deg": 30.0, "augment.scale_p": 0.2,
    "augment.scale_range": (0.7, 1.4), "augment.noise_p": 0.1, "augment.blur_p": 0.2,
    "augment.brightness_p": 0.15, "augment.contrast_p": 0.15, "augment.gamma_p": 0.3,
}
SETTINGS = {
    "slices_512_seed000": {"data.sampler": "slices", "data.batch_size": 4, "model.features": (16, 32, 64, 128)},
    "blocks_96_seed000": {"data.sampler": "blocks", "data.batch_size": 2, "sampling.block_shape": (96, 96, 96),
                          "model.features": (8, 16, 32, 64)},
}


def write_dataset(root: Path, cases: int) -> Path:
    """CT cases of 512 x 512 x 128 voxels, made by upsampling 64 x 64 x 32 phantoms."""
    training = []
    for index in range(cases):
        image, label = make_phantom(index, (64, 64, 32), (6.0, 6.0, 8.0))
        zoom = (8, 8, 128 / image.shape[2])
        affine = image.affine @ np.diag([1 / 8, 1 / 8, 1 / zoom[2], 1])
        name = f"ct_{index:03d}.nii.gz"
        write_nifti(Volume(ndimage.zoom(image.array, zoom, order=1).astype(np.int16), affine),
                    root / "imagesTr" / name)
        write_nifti(Volume(ndimage.zoom(label.array, zoom, order=0), affine), root / "labelsTr" / name)
        training.append({"image": f"./imagesTr/{name}", "label": f"./labelsTr/{name}"})
    (root / "dataset.json").write_text(json.dumps({
        "modality": {"0": "CT"}, "labels": {str(k): v for k, v in LABELS.items()}, "training": training}))
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    out = args.out or Path(__file__).parent / "results" / jax.default_backend() / "data_pipeline.json"
    results = {}
    with tempfile.TemporaryDirectory(prefix="jaxseg-bench-") as scratch:
        root = write_dataset(Path(scratch) / "ct512", args.cases)
        for name, setting in SETTINGS.items():
            pipelines = {}
            for workers in sorted({0, args.workers}):
                overrides = {"data.source": "msd", "data.root": str(root), "data.num_val": 0, "data.num_test": 0,
                             "data.workers": workers, "data.cache_dir": f"{scratch}/cache", **NNUNET_AUGMENT,
                             **setting}
                config = load_config("demo", [f"{k}={v}".replace(" ", "") if isinstance(v, tuple) else f"{k}={v}"
                                              for k, v in overrides.items()])
                training = task_training(config, scratch)
                pipelines[workers], first = pipeline_rate(config, training, batches=args.batches)
                training.batches.close()
            # The train step does not depend on the worker count: measured once per setting.
            train = train_rate(config, training, first, steps=args.steps)
            for workers, pipeline in pipelines.items():
                results[f"{name}_workers{workers}"] = next_to_step(pipeline, train)
                print(name, json.dumps(results[f"{name}_workers{workers}"]))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
