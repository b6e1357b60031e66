"""Figures for reports: image, reference and prediction overlays; training curves."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # Reports are written on headless machines.
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402


def _label_colours(num_classes: int) -> ListedColormap:
    colours = plt.get_cmap("tab10")(np.arange(num_classes) % 10)
    colours[0, 3] = 0.0  # Background stays transparent.
    return ListedColormap(colours)


def _radiological(slice_xy: np.ndarray) -> np.ndarray:
    """An axial RAS slice indexed [x, y] as display rows and columns: anterior up, patient's right on the left."""
    return slice_xy.T[::-1, ::-1]


def overlay_figure(path: str | Path, rows: Sequence[tuple[str, np.ndarray, np.ndarray, np.ndarray]],
                   class_names: Sequence[str]) -> Path:
    """One row per case: image, image + reference labels, image + predicted labels.

    rows: (title, image (H, W), reference (H, W) int, prediction (H, W) int), arrays indexed
    [x, y] with x running towards the patient's right and y towards anterior (RAS axial slices).
    They are drawn with anterior up and the patient's right on the left, as radiologists view them.
    """
    cmap = _label_colours(len(class_names))
    fig, axes = plt.subplots(len(rows), 3, figsize=(9, 3 * len(rows)), squeeze=False)
    for ax_row, (title, image, reference, prediction) in zip(axes, rows):
        for ax, labels, name in zip(ax_row, (None, reference, prediction), ("image", "reference", "prediction")):
            ax.imshow(_radiological(image), cmap="gray")
            if labels is not None:
                ax.imshow(_radiological(labels), cmap=cmap, vmin=0, vmax=len(class_names) - 1, alpha=0.5,
                          interpolation="nearest")
            ax.set_title(f"{title}: {name}", fontsize=9)
            ax.axis("off")
    handles = [plt.Rectangle((0, 0), 1, 1, color=cmap(i)) for i in range(1, len(class_names))]
    fig.legend(handles, class_names[1:], loc="lower center", ncol=len(handles), fontsize=8)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def training_curves(metrics_jsonl: str | Path, path: str | Path) -> Path:
    """Loss (log scale) against step, and beside it the validation metrics (val_dice, its running
    average, val_ap50, ...) when the run validated: a run without validation gets the loss panel only.
    Figure: 5 x 3.5 inches per panel at 100 dpi."""
    records = [json.loads(line) for line in Path(metrics_jsonl).read_text().splitlines() if line.strip()]
    names = sorted({k for r in records for k in r if k.startswith("val_")})
    fig, axes = plt.subplots(1, 2 if names else 1, figsize=(10 if names else 5, 3.5), squeeze=False)
    loss_ax = axes[0, 0]
    loss_ax.plot([r["step"] for r in records], [r["loss"] for r in records])
    loss_ax.set(xlabel="step", ylabel="training loss", yscale="log")
    if names:
        val_ax = axes[0, 1]
        for name in names:
            validated = [r for r in records if name in r]
            val_ax.plot([r["step"] for r in validated], [r[name] for r in validated], marker="o", label=name)
        val_ax.set(xlabel="step", ylabel="validation (foreground mean)", ylim=(0, 1))
        val_ax.legend(fontsize=8)
    for ax in axes.ravel():
        ax.grid(alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def correction_curves_figure(path: str | Path, curves: dict[str, tuple[Sequence[float], Sequence[float]]]) -> Path:
    """Dice against the number of corrected slices (seed 004's simulated corrections), one line per
    series: {name: (corrected slices, Dice)}; a series named "mean" is drawn bold."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, (slices, dice) in curves.items():
        bold = name == "mean"
        ax.plot(slices, dice, marker="o", label=name, linewidth=2.5 if bold else 1.2,
                color="black" if bold else None, zorder=3 if bold else 2)
    ax.set(xlabel="corrected slices (ground truth given besides the start slice)", ylabel="Dice of the volume",
           ylim=(0, 1.02))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
