"""The MONAI side of benchmarks/accuracy_3d.py: train a 3D MONAI BasicUNet on exported volumes and
write its predictions. Runs in a Python with torch and monai (the bench extra); jax is not needed.

    python benchmarks/monai_baseline_3d.py FOLDER

FOLDER (written by accuracy_3d.py):
  settings.json      sampler ("volumes": whole volumes; "blocks": random blocks of block_shape),
                     target_spacing (mm per axis; empty: the files' own), batch_size, steps,
                     learning_rate, weight_decay, num_classes, in_channels, features (BasicUNet's 6
                     widths), augment {flip_p (per axis), rotate_p, rotate_deg (about each axis)},
                     inference {roi_size, overlap}, seed, train and test ids, spacing {id: mm per axis},
                     pads (the normalised value of empty space per channel)
  cases/ID_image.npy (X, Y, Z, C) float32, normalised as jaxseg normalises it, RAS order
  cases/ID_label.npy (X, Y, Z) uint8 classes (training cases only)
Writes:
  predictions/ID.npy (X, Y, Z) uint8 label map on the case's own grid (probabilities resampled back
                     before the arg-max, as jaxseg does)
  result.json        parameters, train_s (all steps), step_s_median (steps after the first),
                     samples_per_s, versions

The recipe: BasicUNet (3D, instance norm, LeakyReLU, max-pool, transposed-conv upsampling), DiceCE
(softmax, one-hot targets), Adam with L2 weight decay; volumes resampled to target_spacing (images
trilinear, labels nearest); samples drawn in shuffled epochs of the training cases; flips per axis
and a rotation about all three axes (labels nearest) when enabled. Inference: the whole volume
("volumes"), or Gaussian-weighted sliding windows of roi_size with `overlap` ("blocks").
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import monai
import numpy as np
import torch
import torch.nn.functional as F
from monai.inferers import sliding_window_inference
from monai.losses import DiceCELoss
from monai.networks.nets import BasicUNet
from monai.transforms import Compose, RandFlipd, RandRotated
from torch_result import write_result


def _resampled(array: np.ndarray, spacing: list[float], target: list[float], mode: str) -> torch.Tensor:
    """(X, Y, Z, C) or (X, Y, Z) array -> (C, x, y, z) float tensor at `target` spacing (mm)."""
    t = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    t = t.permute(3, 0, 1, 2) if t.ndim == 4 else t[None]
    if not target:
        return t
    size = [max(1, round(n * s / g)) for n, s, g in zip(t.shape[1:], spacing, target)]
    kwargs = {"align_corners": False} if mode == "trilinear" else {}
    return F.interpolate(t[None], size=size, mode=mode, **kwargs)[0]


def _padded(t: torch.Tensor, shape: list[int], values: list[float]) -> torch.Tensor:
    """(C, ...) tensor padded at the far end of each axis to at least `shape`, channel c with values[c]."""
    grow = [max(0, n - m) for n, m in zip(shape, t.shape[1:])]
    if not any(grow):
        return t
    widths = [w for g in reversed(grow) for w in (0, g)]
    return torch.stack([F.pad(t[c], widths, value=values[c]) for c in range(t.shape[0])])


def _augmentation(aug: dict) -> Compose:
    keys, transforms = ("image", "label"), []
    if aug.get("flip_p", 0):
        transforms += [RandFlipd(keys, prob=aug["flip_p"], spatial_axis=axis) for axis in (0, 1, 2)]
    if aug.get("rotate_p", 0):
        r = np.deg2rad(aug["rotate_deg"])
        transforms.append(RandRotated(keys, range_x=r, range_y=r, range_z=r, prob=aug["rotate_p"],
                                      mode=("bilinear", "nearest"), padding_mode="border"))
    return Compose(transforms)


def _sample(image: torch.Tensor, label: torch.Tensor, settings: dict, rng: np.random.Generator):
    """The whole volume, or a block of block_shape at a uniformly random place (padded first when
    the volume is smaller)."""
    if settings["sampler"] != "blocks":
        return image, label
    block = settings["block_shape"]
    image, label = _padded(image, block, settings["pads"]), _padded(label, block, [0.0])
    corner = [int(rng.integers(0, n - b + 1)) for n, b in zip(image.shape[1:], block)]
    window = tuple(slice(c, c + b) for c, b in zip(corner, block))
    return image[(slice(None), *window)], label[(slice(None), *window)]


def main(folder: Path) -> None:
    settings = json.loads((folder / "settings.json").read_text())
    torch.manual_seed(settings["seed"])
    monai.utils.set_determinism(settings["seed"])
    target, spacing = settings["target_spacing"], settings["spacing"]
    load = lambda case, what: np.load(folder / "cases" / f"{case}_{what}.npy")  # noqa: E731
    images = [_resampled(load(c, "image"), spacing[c], target, "trilinear") for c in settings["train"]]
    labels = [_resampled(load(c, "label"), spacing[c], target, "nearest") for c in settings["train"]]
    augment = _augmentation(settings["augment"])
    net = BasicUNet(spatial_dims=3, in_channels=settings["in_channels"], out_channels=settings["num_classes"],
                    features=tuple(settings["features"]))
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
    optimiser = torch.optim.Adam(net.parameters(), lr=settings["learning_rate"],
                                 weight_decay=settings["weight_decay"])
    rng = np.random.default_rng(settings["seed"])
    order, step_s = [], []
    net.train()
    start = time.perf_counter()
    for _ in range(settings["steps"]):
        tic = time.perf_counter()
        batch = []
        for _ in range(settings["batch_size"]):
            order = order or list(rng.permutation(len(images)))
            i = order.pop()
            image, label = _sample(images[i], labels[i], settings, rng)
            batch.append(augment({"image": image.clone(), "label": label.clone()}))
        shape = np.max([b["image"].shape[1:] for b in batch], axis=0).tolist()  # whole volumes may differ
        x = torch.stack([_padded(torch.as_tensor(b["image"]), shape, settings["pads"]) for b in batch])
        y = torch.stack([_padded(torch.as_tensor(b["label"]), shape, [0.0]) for b in batch]).round()
        optimiser.zero_grad()
        loss = loss_fn(net(x), y)
        loss.backward()
        optimiser.step()
        step_s.append(time.perf_counter() - tic)
    train_s = time.perf_counter() - start
    print(f"monai: {settings['steps']} steps in {train_s:.1f} s, last loss {loss.item():.4f}", flush=True)

    net.eval()
    (folder / "predictions").mkdir(exist_ok=True)
    with torch.no_grad():
        for case in settings["test"]:
            image = load(case, "image")
            x = _resampled(image, spacing[case], target, "trilinear")[None]
            if settings["sampler"] == "blocks":
                logits = sliding_window_inference(x, settings["block_shape"], settings["batch_size"], net,
                                                  overlap=settings["inference"]["overlap"], mode="gaussian",
                                                  cval=settings["pads"][0])
            else:
                logits = net(x)
            probabilities = torch.softmax(logits, dim=1)
            back = F.interpolate(probabilities, size=image.shape[:3], mode="trilinear", align_corners=False)
            np.save(folder / "predictions" / f"{case}.npy", back[0].argmax(0).numpy().astype(np.uint8))
    write_result(folder, net, settings["batch_size"], train_s, step_s, loss.item(), monai=monai.__version__)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python benchmarks/monai_baseline_3d.py FOLDER (written by benchmarks/accuracy_3d.py)")
    main(Path(sys.argv[1]))
