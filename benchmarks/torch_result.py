"""The result.json that every PyTorch baseline of the accuracy suite writes (monai_baseline.py,
monai_baseline_3d.py, torchvision_detection_baseline.py); imports torch only."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import torch


def write_result(folder: Path, net: torch.nn.Module, batch_size: int, train_s: float, step_s: list[float],
                 final_loss: float, **versions: str) -> None:
    """folder/result.json: parameter count, training seconds, median step seconds (the first step,
    which holds any warm-up, left out), samples/s, the last loss, torch's version and threads, and
    `versions` (e.g. monai=...)."""
    timed = step_s[1:] or step_s
    (folder / "result.json").write_text(json.dumps({
        "parameters": sum(p.numel() for p in net.parameters()),
        "train_s": train_s,
        "step_s_median": statistics.median(timed),
        "samples_per_s": batch_size / statistics.median(timed),
        "final_loss": final_loss,
        "torch": torch.__version__, **versions, "threads": torch.get_num_threads(),
    }, indent=2) + "\n")
