"""`jaxseg evaluate --workdir RUN --data DATASET`: a trained run scored on every labelled case of another
dataset folder, in a Decathlon layout (phantoms) and in an image-folder layout (2D PNGs)."""

import json
import shutil

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from jaxseg.cli import main
from jaxseg.config import ConfigError, load_config
from jaxseg.data.synthetic import write_phantom_dataset
from jaxseg.evaluate import evaluate_runs
from jaxseg.metrics import dice_score
from jaxseg.train.loop import fit
from tests.conftest import TINY_PHANTOM, tiny_overrides


@pytest.fixture(scope="module")
def phantom_run(phantom_root, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("phantom_run") / "run"
    fit(load_config("demo", tiny_overrides(phantom_root)), workdir, progress=False)
    return workdir


@pytest.fixture(scope="module")
def other_phantoms(tmp_path_factory):
    return write_phantom_dataset(tmp_path_factory.mktemp("other") / "phantom", **{**TINY_PHANTOM, "num_cases": 2,
                                                                                  "seed": 7})


def test_a_phantom_run_scores_every_case_of_another_decathlon_folder(phantom_run, other_phantoms, tmp_path):
    summary = evaluate_runs([phantom_run], out=tmp_path / "other", progress=False, data=other_phantoms)
    assert summary["split"] == "all" and [c["case_id"] for c in summary["metric_per_case"]] == [
        "phantom_000", "phantom_001"]
    for case in summary["metric_per_case"]:  # Scored against the other folder's own labels.
        assert case["reference_file"].startswith(str(other_phantoms))
        predicted = np.asarray(nib.load(case["prediction_file"]).dataobj)
        reference = np.asarray(nib.load(case["reference_file"]).dataobj)
        assert case["metrics"]["liver"]["Dice"] == pytest.approx(dice_score(predicted == 1, reference == 1))


def test_data_folder_equal_to_the_runs_own_gives_the_same_scores(phantom_run, phantom_root, tmp_path):
    """The run's preprocessing is applied: its own test case scores the same through --data."""
    held_out = evaluate_runs([phantom_run], out=tmp_path / "test", progress=False)
    everything = evaluate_runs([phantom_run], out=tmp_path / "all", progress=False, data=phantom_root)
    [case] = held_out["metric_per_case"]
    same = {c["case_id"]: c for c in everything["metric_per_case"]}[case["case_id"]]
    assert same["metrics"] == case["metrics"] and len(everything["metric_per_case"]) == TINY_PHANTOM["num_cases"]


def test_data_whose_classes_or_channels_differ_is_refused(phantom_run, other_phantoms, tmp_path):
    changed = tmp_path / "changed"
    shutil.copytree(other_phantoms, changed)
    record = json.loads((changed / "dataset.json").read_text())
    record["labels"] = {"0": "background", "1": "liver"}
    (changed / "dataset.json").write_text(json.dumps(record))
    with pytest.raises(ConfigError, match=rf"^dataset {changed} has 2 classes \{{0: 'background', 1: 'liver'\}}; "
                                          r"the run's model predicts 5$"):
        evaluate_runs([phantom_run], out=tmp_path / "x", progress=False, data=changed)
    record = json.loads((other_phantoms / "dataset.json").read_text())
    record["modality"] = {"0": "CT", "1": "MR"}
    (changed / "dataset.json").write_text(json.dumps(record))
    with pytest.raises(ConfigError, match=rf"^dataset {changed} has 2 image channel\(s\) \('CT', 'MR'\); the run's "
                                          r"model takes 1$"):
        evaluate_runs([phantom_run], out=tmp_path / "x", progress=False, data=changed)
    with pytest.raises(ConfigError, match=r"and layout\.\* with --data"):
        evaluate_runs([phantom_run], overrides=["data.normalize=none"], data=other_phantoms)


def _discs(root, names, mask_dir="labels", suffix="", foreground=1, size=(40, 36)):
    """Grey images of a bright disc on noise, with its mask (foreground value `foreground`)."""
    rng = np.random.default_rng(len(names))
    (root / "images").mkdir(parents=True)
    (root / mask_dir).mkdir()
    rows, columns = np.indices(size)
    for n, name in enumerate(names):
        centre = (12 + 3 * n, 14 + 2 * n)
        disc = (rows - centre[0]) ** 2 + (columns - centre[1]) ** 2 < (6 + n) ** 2
        image = np.clip(60 + 120 * disc + rng.normal(0, 10, size), 0, 255).astype(np.uint8)
        Image.fromarray(image).save(root / "images" / f"{name}.png")
        Image.fromarray((disc * foreground).astype(np.uint8)).save(root / mask_dir / f"{name}{suffix}.png")
    return root


@pytest.fixture(scope="module")
def disc_run(tmp_path_factory):
    """A one-step 2D run on a generated image folder (images/NAME.png, labels/NAME.png with 0/1)."""
    root = tmp_path_factory.mktemp("discs")
    overrides = {"data.source": "image_folders", "data.root": str(_discs(root / "train", [f"t{i}" for i in range(4)])),
                 "data.normalize": "zscore", "data.num_val": 0, "data.num_test": 0, "data.batch_size": 2,
                 "model.num_classes": 2, "model.features": (4, 8), "train.steps": 1, "train.log_every": 1,
                 "train.val_every": 1, "train.checkpoint_every": 1, "optimizer.warmup_steps": 0}
    fit(load_config("demo", [f"{k}={v}".replace(" ", "") for k, v in overrides.items()]), root / "run", progress=False)
    return root / "run"


@pytest.fixture(scope="module")
def other_discs(tmp_path_factory):
    """Another image folder in another layout: masks/NAME_mask.png with 0/255."""
    return _discs(tmp_path_factory.mktemp("other_discs"), ["a", "b", "c"], mask_dir="masks", suffix="_mask",
                  foreground=255)


def test_an_image_folder_run_scores_another_image_folder_in_its_own_layout(disc_run, other_discs, tmp_path, capsys):
    assert main(["evaluate", "--workdir", str(disc_run), "--data", str(other_discs), "--out", str(tmp_path / "eval"),
                 "--config.layout.mask_dir=masks", "--config.layout.mask_suffix=_mask",
                 "--config.layout.label_values=((0,0),(255,1))"]) == 0
    assert f"report: {tmp_path / 'eval'}/summary.json" in capsys.readouterr().out
    summary = json.loads((tmp_path / "eval" / "summary.json").read_text())
    assert summary["split"] == "all" and summary["distance_unit"] == "px"
    assert [c["case_id"] for c in summary["metric_per_case"]] == ["a", "b", "c"]
    for case in summary["metric_per_case"]:
        predicted = np.asarray(Image.open(case["prediction_file"]))
        reference = np.asarray(Image.open(case["reference_file"])) == 255
        assert predicted.shape == (40, 36)
        assert case["metrics"]["class_1"]["Dice"] == pytest.approx(dice_score(predicted == 1, reference))


def test_another_layout_without_its_layout_keys_is_an_error_naming_the_key(disc_run, other_discs, tmp_path, capsys):
    assert main(["evaluate", "--workdir", str(disc_run), "--data", str(other_discs), "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (f"jaxseg: error: {other_discs}: no labels/ folder "
                                       "(config key 'layout.mask_dir')\n")
