"""Record MONAI's sliding_window_inference outputs for tests/test_inference.py (run with monai installed).

    python tests/reference/make_sliding_window_golden.py

Writes tests/data/sliding_window_monai.npz: for each case, the input image (channels last), the
options, and MONAI's output for the window function `window_fn` below.
"""

from pathlib import Path

import numpy as np

CASES = [  # (name, image shape (*spatial, C), roi, overlap, mode)
    ("2d_gaussian", (37, 29, 1), (16, 16), 0.5, "gaussian"),
    ("3d_constant", (10, 40, 23, 2), (16, 12, 8), 0.25, "constant"),
    ("3d_gaussian", (20, 21, 22, 1), (8, 9, 10), 0.6, "gaussian"),
    ("2d_padded", (5, 30, 1), (8, 8), 0.5, "gaussian"),
]


def window_fn(windows: np.ndarray) -> np.ndarray:
    """A deterministic function of the window contents and of the position inside the window."""
    position = np.indices(windows.shape[1:-1]).sum(0)[None, ..., None]
    return np.concatenate([np.tanh(windows.sum(-1, keepdims=True)) * (1 + 0.01 * position),
                           windows[..., :1] ** 2], axis=-1)


def main() -> None:
    import monai
    import torch
    from monai.inferers import sliding_window_inference

    def torch_fn(x):
        out = window_fn(np.moveaxis(x.numpy(), 1, -1))
        return torch.from_numpy(np.ascontiguousarray(np.moveaxis(out, -1, 1)))

    rng = np.random.default_rng(0)
    arrays = {"monai_version": np.array(monai.__version__)}
    for name, shape, roi, overlap, mode in CASES:
        image = rng.normal(size=shape).astype(np.float32)
        channels_first = torch.from_numpy(np.ascontiguousarray(np.moveaxis(image, -1, 0)[None]))
        output = sliding_window_inference(channels_first, roi, 3, torch_fn, overlap=overlap, mode=mode)
        arrays[f"{name}/image"] = image
        arrays[f"{name}/output"] = np.moveaxis(output.numpy()[0], 0, -1)
    path = Path(__file__).resolve().parent.parent / "data" / "sliding_window_monai.npz"
    np.savez_compressed(path, **arrays)
    print(f"wrote {path} (MONAI {monai.__version__})")


if __name__ == "__main__":
    main()
