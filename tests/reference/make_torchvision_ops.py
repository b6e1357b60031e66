"""Record torchvision.ops.nms and roi_align outputs for tests/test_detection_ops.py (needs torchvision).

    /work/tvenv/bin/python tests/reference/make_torchvision_ops.py   # any Python with torch + torchvision

Writes tests/data/torchvision_ops.npz: random inputs (channels last, as jaxseg takes them) and
torchvision's outputs, for several IoU thresholds, RoI options and sampling ratios.
"""

from pathlib import Path

import numpy as np

NMS_CASES = [  # (name, boxes, IoU threshold)
    ("dense", 200, 0.5),
    ("loose", 300, 0.7),
    ("tight", 150, 0.3),
]
ROI_CASES = [  # (name, feature map (N, H, W, C), RoIs per image, output size, spatial scale, sampling ratio, aligned)
    ("aligned_s2", (2, 13, 11, 3), 6, (7, 7), 1 / 4, 2, True),
    ("legacy_s2", (1, 10, 12, 2), 5, (3, 4), 1 / 8, 2, False),
    ("aligned_adaptive", (2, 9, 14, 2), 4, (5, 5), 1 / 4, 0, True),
    ("legacy_adaptive", (1, 16, 8, 3), 5, (2, 3), 1 / 2, -1, False),
]


def random_boxes(rng: np.random.Generator, count: int, width: float, height: float, min_size: float) -> np.ndarray:
    """(count, 4) boxes (x1, y1, x2, y2) inside a width x height image, clustered so that many overlap."""
    centres = rng.uniform(0, 1, size=(max(count // 10, 1), 2)) * [width, height]
    pick = centres[rng.integers(0, len(centres), count)] + rng.normal(0, 0.05, (count, 2)) * [width, height]
    size = rng.uniform(min_size, 0.4, (count, 2)) * [width, height]
    boxes = np.concatenate([pick - size / 2, pick + size / 2], axis=1)
    return np.clip(boxes, 0, [width, height, width, height]).astype(np.float32)


def main() -> None:
    import torch
    import torchvision
    from torchvision.ops import nms, roi_align

    rng = np.random.default_rng(0)
    arrays = {"torchvision_version": np.array(torchvision.__version__)}
    for name, count, threshold in NMS_CASES:
        boxes = random_boxes(rng, count, 100.0, 80.0, 0.05)
        scores = rng.permutation(count).astype(np.float32) / count  # distinct: no ties to break
        kept = nms(torch.from_numpy(boxes), torch.from_numpy(scores), threshold).numpy()
        arrays.update({f"nms/{name}/boxes": boxes, f"nms/{name}/scores": scores,
                       f"nms/{name}/threshold": np.float32(threshold), f"nms/{name}/kept": kept.astype(np.int32)})
    for name, shape, per_image, size, scale, ratio, aligned in ROI_CASES:
        n, h, w, c = shape
        features = rng.normal(size=shape).astype(np.float32)
        boxes = np.stack([random_boxes(rng, per_image, w / scale, h / scale, 0.02) for _ in range(n)])
        rois = torch.cat([torch.cat([torch.full((per_image, 1), float(i)), torch.from_numpy(b)], 1)
                          for i, b in enumerate(boxes)])
        out = roi_align(torch.from_numpy(np.moveaxis(features, -1, 1).copy()), rois, size, scale, ratio, aligned)
        out = np.moveaxis(out.numpy(), 1, -1).reshape(n, per_image, *size, c)
        arrays.update({f"roi/{name}/features": features, f"roi/{name}/boxes": boxes, f"roi/{name}/output": out,
                       f"roi/{name}/options": np.array([*size, scale, ratio, aligned], np.float64)})
    path = Path(__file__).resolve().parent.parent / "data" / "torchvision_ops.npz"
    np.savez_compressed(path, **arrays)
    print(f"wrote {path} ({path.stat().st_size} bytes, torchvision {torchvision.__version__}, "
          f"torch {torch.__version__})")


if __name__ == "__main__":
    main()
