"""The MONAI side of benchmarks/accuracy.py: train a MONAI BasicUNet on exported 2D cases and
write its predictions. Runs in a Python with torch and monai (the bench extra); jax is not needed.

    python benchmarks/monai_baseline.py FOLDER

FOLDER (written by accuracy.py):
  settings.json      input_size (H, W), batch_size, steps, learning_rate, weight_decay, num_classes,
                     in_channels, features (BasicUNet's 6 widths), augment {flip_p, rot90_p, elastic_p,
                     elastic_sigma, elastic_alpha}, seed, train and test case ids
  cases/ID_image.npy (H, W, C) float32, normalised as jaxseg normalises it, in the file's pixel order
  cases/ID_label.npy (H, W) uint8 classes (training cases only)
Writes:
  predictions/ID.npy (H, W) uint8 label map at the image's own size (probabilities resized back
                     before the arg-max, as jaxseg does)
  result.json        parameters, train_s (all steps), step_s_median (steps after the first),
                     samples_per_s, versions

The recipe: BasicUNet (2D, instance norm, LeakyReLU, max-pool, transposed-conv upsampling), DiceCE
(softmax, one-hot targets), Adam with L2 weight decay; whole images resized to input_size (images
bilinear, labels nearest), drawn in shuffled epochs; flips per axis, 90-degree rotations and
Rand2DElastic (control points every 2 sigma, magnitude up to alpha pixels) when enabled.
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
from monai.losses import DiceCELoss
from monai.networks.nets import BasicUNet
from monai.transforms import Compose, Rand2DElasticd, RandFlipd, RandRotate90d
from torch_result import write_result


def _load(folder: Path, case: str, what: str) -> np.ndarray:
    return np.load(folder / "cases" / f"{case}_{what}.npy")


def _resized(array: np.ndarray, size: tuple[int, int], mode: str) -> torch.Tensor:
    """(H, W, C) or (H, W) array -> (C, h, w) float tensor at `size`."""
    t = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    t = t.permute(2, 0, 1) if t.ndim == 3 else t[None]
    kwargs = {"align_corners": False} if mode == "bilinear" else {}
    return F.interpolate(t[None], size=size, mode=mode, **kwargs)[0]


def _augmentation(aug: dict) -> Compose:
    keys, transforms = ("image", "label"), []
    if aug.get("flip_p", 0):
        transforms += [RandFlipd(keys, prob=aug["flip_p"], spatial_axis=axis) for axis in (0, 1)]
    if aug.get("rot90_p", 0):
        transforms.append(RandRotate90d(keys, prob=aug["rot90_p"], max_k=3))
    if aug.get("elastic_p", 0):
        sigma = aug.get("elastic_sigma", 8.0)
        transforms.append(Rand2DElasticd(keys, spacing=(2 * sigma, 2 * sigma),
                                         magnitude_range=(0.0, aug.get("elastic_alpha", 2.0)),
                                         prob=aug["elastic_p"], mode=("bilinear", "nearest"),
                                         padding_mode="reflection"))
    return Compose(transforms)


def main(folder: Path) -> None:
    settings = json.loads((folder / "settings.json").read_text())
    torch.manual_seed(settings["seed"])
    monai.utils.set_determinism(settings["seed"])
    size = tuple(settings["input_size"])
    images = [_resized(_load(folder, c, "image"), size, "bilinear") for c in settings["train"]]
    labels = [_resized(_load(folder, c, "label"), size, "nearest") for c in settings["train"]]
    augment = _augmentation(settings["augment"])
    net = BasicUNet(spatial_dims=2, in_channels=settings["in_channels"], out_channels=settings["num_classes"],
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
            batch.append(augment({"image": images[i].clone(), "label": labels[i].clone()}))
        x = torch.stack([torch.as_tensor(b["image"]) for b in batch])
        y = torch.stack([torch.as_tensor(b["label"]) for b in batch]).round()
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
            image = _load(folder, case, "image")
            probabilities = torch.softmax(net(_resized(image, size, "bilinear")[None]), dim=1)
            back = F.interpolate(probabilities, size=image.shape[:2], mode="bilinear", align_corners=False)
            np.save(folder / "predictions" / f"{case}.npy", back[0].argmax(0).numpy().astype(np.uint8))
    write_result(folder, net, settings["batch_size"], train_s, step_s, loss.item(), monai=monai.__version__)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python benchmarks/monai_baseline.py FOLDER (written by benchmarks/accuracy.py)")
    main(Path(sys.argv[1]))
