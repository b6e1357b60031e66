"""The seed-002 2D configs train at tiny scale on their real data; a 2D run evaluates and predicts PNGs."""

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image

from jaxseg.config import load_config
from jaxseg.evaluate import evaluate_runs
from jaxseg.io import read_dicom_image
from jaxseg.metrics import average_surface_distance, hausdorff_distance
from jaxseg.tasks import get_task
from jaxseg.train.loop import fit
from jaxseg.train.restore import restore
from tests.data_samples import CXR, DSB, ISBI, image_folder_subset, msd_spinalcord_contrasts, need

TINY = {"train.steps": 2, "train.log_every": 1, "train.val_every": 2, "train.checkpoint_every": 2,
        "data.batch_size": 2, "data.num_val": 1, "data.num_test": 1, "model.features": (4, 8),
        "prepare.slice_size": (32, 32), "inference.batch_size": 4}


def _overrides(values: dict) -> list[str]:
    return [f"{k}={v}".replace(" ", "") if isinstance(v, tuple) else f"{k}={v}" for k, v in values.items()]


def _root(name: str, tmp_path: Path) -> Path:
    if name == "cxr_lungs_unet":  # 6 of the 20 radiographs: reading 2000^2 images is what takes time
        names = [f"{stem}.jpg" for stem in ("19abe1f3", "2168a917", "2c35005f", "441c9cdd", "f64132c8", "f6d980a0")]
        return image_folder_subset(CXR, tmp_path / "cxr", names, mask_dir="masks")
    if name == "fetal_brain_unet":
        return msd_spinalcord_contrasts(tmp_path / "spine")
    return need({"nuclei_unet": DSB, "isbi_membranes_unet": ISBI}[name])


@pytest.mark.slow  # 15-90 s each on 2 loaded cores, most of it compiling the model's initialisers
@pytest.mark.parametrize("name", ["nuclei_unet", "cxr_lungs_unet", "isbi_membranes_unet", "fetal_brain_unet"])
def test_config_trains_tiny(name, tmp_path):
    config = load_config(name, _overrides({**TINY, "data.root": _root(name, tmp_path)}))
    fit(config, tmp_path / "run", progress=False)
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2] and (tmp_path / "run" / "checkpoints" / "2").is_dir()
    got = [*(r["loss"] for r in records), records[-1]["val_dice"]]
    assert got == pytest.approx(GOLDEN_TINY[name], rel=1e-4), got


# [loss at step 1, loss at step 2, validation Dice] of each tiny run on its real data (recorded on a CPU).
GOLDEN_TINY = {"nuclei_unet": [0.7330751, 0.7373489, 0.3232394], "cxr_lungs_unet": [0.7481249, 0.7372923, 0.4888153],
               "isbi_membranes_unet": [1.5248320, 1.5293813, 0.3471261],
               "fetal_brain_unet": [0.7507502, 0.7435906, 0.005531593]}


@pytest.fixture(scope="module")
def isbi_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("isbi") / "run"
    values = {**TINY, "train.steps": 3, "train.val_every": 3, "data.root": need(ISBI)}
    fit(load_config("isbi_membranes_unet", _overrides(values)), workdir, progress=False)
    return workdir


def test_2d_run_evaluates_with_png_predictions(isbi_run, tmp_path):
    summary = evaluate_runs([isbi_run], out=tmp_path / "eval", progress=False)
    [case] = summary["metric_per_case"]
    assert set(case["metrics"]) == {"membrane"} and 0.0 <= case["metrics"]["membrane"]["Dice"] <= 1.0
    prediction = np.asarray(Image.open(case["prediction_file"]))
    assert case["prediction_file"].endswith(".png") and prediction.shape == (512, 512)
    assert set(np.unique(prediction)) <= {0, 1}
    assert (tmp_path / "eval" / "overlays.png").is_file()
    # Surface distances in 2D and in pixels (the PNGs give no pixel size), said in both reports.
    membrane = np.asarray(Image.open(case["reference_file"])) == 0
    assert summary["distance_unit"] == case["distance_unit"] == "px"
    assert case["metrics"]["membrane"]["HD95"] == hausdorff_distance(prediction == 1, membrane, percentile=95)
    assert case["metrics"]["membrane"]["ASSD"] == pytest.approx(average_surface_distance(prediction == 1, membrane))
    assert "Surface distances (HD95, ASSD in summary.json and per_case.csv) are in px." in (
        tmp_path / "eval" / "summary.md").read_text()
    # Viewers show the prediction in colour (a palette), and its sidecar names the classes.
    assert Image.open(case["prediction_file"]).mode == "P"
    sidecar = json.loads(Path(case["prediction_file"]).with_suffix(".json").read_text())
    assert {k: v["name"] for k, v in sidecar["labels"].items()} == {"0": "cell", "1": "membrane"}


def predict_file(run: Path, input_path: Path, output_path: Path) -> Path:
    """What `jaxseg predict --checkpoint RUN INPUT OUTPUT` does."""
    restored = restore(run)
    return get_task(restored.config.task).predict(restored, input_path, output_path)


def test_predict_writes_a_png_of_the_input_size(isbi_run, tmp_path):
    Image.fromarray(np.asarray(Image.open(ISBI / "images" / "05.png"))[:100, :70]).save(tmp_path / "crop.png")
    out = predict_file(isbi_run, tmp_path / "crop.png", tmp_path / "crop_labels.png")
    labels = np.asarray(Image.open(out))
    assert labels.shape == (100, 70) and set(np.unique(labels)) <= {0, 1}
    assert json.loads((tmp_path / "crop_labels.json").read_text())["labels"]["1"] == {
        "name": "membrane", "colour": [255, 38, 38]}
    # A single DICOM image in, a PNG of its size out.
    dicom = Path(pydicom.data.get_testdata_file("CT_small.dcm"))
    labels = np.asarray(Image.open(predict_file(isbi_run, dicom, tmp_path / "ct.png")))
    assert labels.shape == read_dicom_image(dicom).shape == (128, 128) and set(np.unique(labels)) <= {0, 1}
    with pytest.raises(ValueError, match="must end in .png or .tif"):
        predict_file(isbi_run, tmp_path / "crop.png", tmp_path / "labels.nii.gz")


def test_weight_decay_is_l2_for_adam_and_sgd_and_decoupled_for_adamw():
    from jaxseg.config import base_config
    from jaxseg.train.optim import make_optimizer

    params = {"w": np.array([2.0, -4.0], np.float32)}
    zero = {"w": np.zeros(2, np.float32)}

    def first_update(name: str) -> np.ndarray:
        c = base_config().optimizer
        c.name, c.learning_rate, c.weight_decay, c.momentum = name, 0.5, 0.1, 0.0
        tx = make_optimizer(c, total_steps=10)
        updates, _ = tx.update(zero, tx.init(params), params)
        return np.asarray(updates["w"])

    np.testing.assert_allclose(first_update("sgd"), [-0.1, 0.2], rtol=1e-6)  # -lr * wd * w
    np.testing.assert_allclose(first_update("adam"), [-0.5, 0.5], rtol=1e-4)  # Adam's first step: -lr * sign(wd * w)
    np.testing.assert_allclose(first_update("adamw"), [-0.1, 0.2], rtol=1e-6)  # -lr * wd * w, apart from Adam
