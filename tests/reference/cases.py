"""Fixed inputs for the conformance tests and their encoding in tests/data/reference_values.json."""

from __future__ import annotations

import base64

import numpy as np
from scipy import ndimage


def encode(array: np.ndarray) -> dict:
    """A numpy array as JSON: dtype, shape and base64 of its bytes."""
    array = np.ascontiguousarray(array)
    return {"dtype": array.dtype.str, "shape": list(array.shape), "data": base64.b64encode(array.tobytes()).decode()}


def decode(record: dict) -> np.ndarray:
    return np.frombuffer(base64.b64decode(record["data"]), dtype=np.dtype(record["dtype"])).reshape(record["shape"])


def loss_inputs(seed: int = 0) -> dict[str, np.ndarray]:
    """Logits (N, H, W, C) and labels of two sizes: 2D three-class, and 3D two-class with an absent class."""
    rng = np.random.default_rng(seed)
    logits_2d = rng.normal(scale=2.0, size=(2, 6, 7, 3)).astype(np.float32)
    labels_2d = rng.integers(0, 3, size=(2, 6, 7)).astype(np.int32)
    labels_2d[1][labels_2d[1] == 2] = 0  # class 2 absent from sample 1: the per-sample edge cases
    logits_3d = rng.normal(scale=2.0, size=(2, 4, 5, 6, 2)).astype(np.float32)
    labels_3d = (rng.random((2, 4, 5, 6)) < 0.3).astype(np.int32)
    multilabel = (rng.random((2, 6, 7, 3)) < 0.4).astype(np.float32)
    return {"logits_2d": logits_2d, "labels_2d": labels_2d, "logits_3d": logits_3d,
            "labels_3d": labels_3d, "multilabel_2d": multilabel}


def mask_pairs(seed: int = 0) -> list[tuple[np.ndarray, np.ndarray, tuple[float, ...]]]:
    """Blob-shaped (pred, true, spacing) mask pairs, 2D and 3D, isotropic and anisotropic."""
    rng = np.random.default_rng(seed)
    pairs = []
    for shape, spacing in [((40, 48), (1.0, 1.0)), ((40, 48), (0.7, 2.3)),
                           ((18, 20, 22), (1.0, 1.0, 1.0)), ((18, 20, 22), (2.5, 0.8, 1.1))]:
        blobs = [ndimage.gaussian_filter(rng.random(shape), 2.0) > 0.5 for _ in range(2)]
        pairs.append((blobs[0], blobs[1], spacing))
    return pairs


def detection_sets(seed: int = 0, num_images: int = 12) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per image (true boxes (T, 4), predicted boxes (P, 4), scores (P,)), xyxy pixels: jittered
    copies of the references, spurious boxes, misses and images without references.
    """
    rng = np.random.default_rng(seed)
    images = []
    for i in range(num_images):
        n_true = 0 if i % 4 == 3 else int(rng.integers(1, 4))
        corner = rng.uniform(0, 200, size=(n_true, 2))
        true = np.concatenate([corner, corner + rng.uniform(20, 80, size=(n_true, 2))], axis=1)
        kept = true[rng.random(n_true) < 0.8]
        pred = kept + rng.normal(scale=6.0, size=kept.shape)
        spurious_corner = rng.uniform(0, 200, size=(int(rng.integers(0, 3)), 2))
        spurious = np.concatenate([spurious_corner, spurious_corner + 40], axis=1)
        pred = np.concatenate([pred, spurious]).round(1)
        images.append((true.round(1), pred, rng.random(len(pred)).round(3)))
    return images
