"""benchmarks/accuracy_boxes.py's pieces: the lung-box run's pinned split and seed, jaxseg's samples
exported for the torchvision script, and that script on tiny samples where a Python with torch and
torchvision is found (JAXSEG_TORCHVISION_PYTHON, else this Python)."""

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import accuracy_boxes  # noqa: E402


@pytest.fixture
def box_root(tmp_path):
    """lungs/images/cN.png (60 x 80 grey, a bright box per side) with lungs/boxes.csv, and split
    files lungs_test.txt (c3) and lungs_val.txt (c2)."""
    root = tmp_path / "data"
    (root / "lungs" / "images").mkdir(parents=True)
    rows = ["image,label,x,y,w,h"]
    for n in range(5):
        image = np.full((60, 80), 30, np.uint8)
        image[10 + n:50, 5:35], image[10:50 - n, 45:75] = 200, 180
        Image.fromarray(image).save(root / "lungs" / "images" / f"c{n}.png")
        rows += [f"images/c{n}.png,Right Lung,5,{10 + n},30,{40 - n}", f"images/c{n}.png,Left Lung,45,10,30,{40 - n}"]
    (root / "lungs" / "boxes.csv").write_text("\n".join(rows) + "\n")
    (root / "splits").mkdir()
    (root / "splits" / "lungs_test.txt").write_text("c3\n")
    (root / "splits" / "lungs_val.txt").write_text("c2\n")
    return root


def test_the_run_pins_the_lung_split_and_its_seed(tmp_path):
    config, overrides = accuracy_boxes.detection_config(tmp_path, 1)
    assert config.data.test_cases == str(REPO / "configs" / "splits" / "cxr_lung_covid_hannover_test.txt")
    assert (config.seed, config.train.val_every, config.train.checkpoint_every) == (1, 60, 60)
    assert f"data.root={tmp_path / 'cxr_lung_covid_hannover'}" in overrides


def test_export_writes_jaxseg_samples_of_train_and_test_images(box_root, tmp_path, monkeypatch):
    monkeypatch.setattr(accuracy_boxes, "FOLDER", "lungs")
    config, _ = accuracy_boxes.detection_config(box_root, 0, box_root / "splits")
    train, test = accuracy_boxes.export_samples(config, tmp_path)
    assert sorted(i.case_id for i in train) == ["images/c0.png", "images/c1.png", "images/c4.png"]
    assert [i.case_id for i in test] == ["images/c3.png"]
    sample = np.load(tmp_path / "cases" / "images__c3.png.npz")
    scale = 192 / 80  # the longer side to the 192 x 192 canvas
    assert sample["image"].shape == (192, 192, 1) and float(sample["scale"]) == pytest.approx(scale)
    np.testing.assert_allclose(sample["boxes"], np.array([[5, 13, 35, 50], [45, 10, 75, 47]]) * scale, rtol=1e-5)


def _torchvision_python() -> str | None:
    for python in (os.environ.get("JAXSEG_TORCHVISION_PYTHON"), sys.executable):
        if python and accuracy_boxes.torchvision_available(python) is None:
            return python
    return None


@pytest.mark.slow
def test_torchvision_baseline_detects_every_test_image_in_file_pixels(box_root, tmp_path, monkeypatch):
    python = _torchvision_python()
    if python is None:
        pytest.skip("no Python with torch and torchvision (set JAXSEG_TORCHVISION_PYTHON)")
    monkeypatch.setattr(accuracy_boxes, "FOLDER", "lungs")
    config, _ = accuracy_boxes.detection_config(box_root, 0, box_root / "splits")
    config.train.steps, config.data.batch_size, config.detection.width = 2, 2, 0.0625
    config.detection.rpn_features = 32  # the backbone's width at 0.0625 of 512
    train, test = accuracy_boxes.export_samples(config, tmp_path)
    result = accuracy_boxes.train_torchvision(config, tmp_path, train, test, python)
    boxes, scores, labels = result["detections"]["images/c3.png"]
    assert boxes.shape == (len(scores), 4) and set(labels.tolist()) <= {1, 2}
    assert np.all(boxes[:, 2] <= 80 + 1e-3) and np.all(boxes[:, 3] <= 60 + 1e-3)  # file pixels, not the canvas
    assert json.loads((tmp_path / "result.json").read_text())["parameters"] == result["parameters"] > 0
