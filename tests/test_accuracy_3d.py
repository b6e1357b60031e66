"""benchmarks/accuracy_3d.py's pieces: the dataset folders it writes over the shared 3D data (skipped
where ../shared/data is absent), the pinned fold of a run, one scorer with the BraTS regions for both
frameworks, and the rows the results table gives a 3D record. The MONAI script runs only where a
Python with torch and monai is found (JAXSEG_MONAI_PYTHON, else this Python)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import accuracy  # noqa: E402
import accuracy_3d  # noqa: E402

from jaxseg.data.msd import read_msd_index  # noqa: E402
from tests.data_samples import SHARED, need  # noqa: E402


def test_brats_layout_links_the_subjects_with_flair_and_t1c_channels(tmp_path):
    source = need(SHARED / "brats2015_deepmedic_subset")
    accuracy_3d.brats_layout(source, tmp_path)
    index = read_msd_index(tmp_path)
    assert [c.case_id for c in index.cases] == ["pat0001", "pat0002", "pat0003"]
    assert index.channels == ("FLAIR", "T1c") and index.num_classes == 5
    assert all((tmp_path / c).is_symlink() for c in ("pat0001", "pat0002", "pat0003"))  # Never copied.
    assert index.cases[0].images[1].name == "T1c_subtrMeanDivStd.nii.gz"


def test_spinal_cord_layout_makes_each_contrast_a_case_of_its_own(tmp_path):
    accuracy_3d.spinal_cord_layout(need(SHARED / "spinalcord_mri_ivadomed_sct"), tmp_path)
    index = read_msd_index(tmp_path)
    assert sorted((c.case_id, c.subject) for c in index.cases) == [("T1w", "T1w"), ("T2star", "T2star"),
                                                                    ("T2w", "T2w")]


def test_spleen_halves_keep_their_place_in_the_scan(tmp_path):
    source = need(SHARED / "msd_spleen_crop_ivadomed")
    accuracy_3d.spleen_halves_layout(source, tmp_path)
    whole = nib.load(source / "labelsTr" / "spleen_2_crop.nii.gz")
    first, second = (nib.load(tmp_path / f"{half}_label.nii.gz") for half in ("first", "second"))
    assert first.shape[0] + second.shape[0] == whole.shape[0] == 164 and first.shape[1:] == whole.shape[1:]
    np.testing.assert_array_equal(np.concatenate([first.dataobj, second.dataobj]), np.asarray(whole.dataobj))
    np.testing.assert_allclose(second.affine @ [0, 0, 0, 1], whole.affine @ [82, 0, 0, 1])
    assert [c.case_id for c in read_msd_index(tmp_path).cases] == ["first", "second"]


@pytest.mark.slow  # 8-22 s on the shared 2-core CPU, most of it importing the configs
def test_fold_config_pins_the_test_cases_and_holds_out_no_validation(tmp_path):
    spec = accuracy_3d.DATASETS_3D["brats_3_cases"]
    config, _ = accuracy_3d.fold_config(spec, tmp_path / "data", "reduced", ("pat0002",), tmp_path / "run",
                                        spec.ablations[0][1])
    assert (tmp_path / "run" / "test.txt").read_text() == "pat0002\n"
    assert (config.data.num_val, config.data.folds, config.model.in_channels) == (0, 0, 2)
    assert tuple(config.prepare.spacing_mm) == (4.0, 4.0, 4.0) and config.loss.name == "jaccard"
    assert config.train.checkpoint_every == config.train.val_every == config.train.steps == 60
    assert config.model.name == "kayalibay_sum"  # the ablation's overrides come last
    spine = accuracy_3d.DATASETS_3D["spinal_cord_mr"]
    blocks, _ = accuracy_3d.fold_config(spine, tmp_path, "reduced", spine.folds[0], tmp_path / "spine")
    assert tuple(blocks.sampling.block_shape) == tuple(blocks.inference.roi_size) == (48, 48, 16)
    assert blocks.data.normalize == "zscore" and blocks.model.bn_momentum == 0.9  # the seed's 0.99 is for 20k steps
    spleen = accuracy_3d.DATASETS_3D["msd_spleen_crop"]
    suite, _ = accuracy_3d.fold_config(spleen, tmp_path, "reduced", ("second",), tmp_path / "spleen")
    (_, seed_bce), = spleen.ablations
    seed, _ = accuracy_3d.fold_config(spleen, tmp_path, "reduced", ("second",), tmp_path / "bce", seed_bce)
    assert (suite.loss.name, seed.loss.name, seed.loss.bce_weights) == ("dice_ce", "bce", "inverse_frequency")


def test_score_gives_class_means_each_class_and_the_brats_regions():
    reference = np.zeros((8, 8, 8), np.uint8)
    reference[2:6, 2:6, 2:6] = 2  # oedema around...
    reference[3:5, 3:5, 3:5] = 4  # ...an enhancing core
    prediction = reference.copy()
    prediction[prediction == 4] = 1  # the core called necrosis
    labels = {0: "background", 1: "necrosis", 2: "edema", 3: "non-enhancing", 4: "enhancing"}
    scores = accuracy_3d.score(prediction, reference, labels, (1.0, 1.0, 1.0), regions=True)
    assert (scores["whole"], scores["core"], scores["enhancing"]) == (1.0, 1.0, 0.0)
    assert (scores["Dice edema"], scores["Dice necrosis"], scores["Dice enhancing"]) == (1.0, 0.0, 0.0)
    assert scores["HD95"] == np.inf  # necrosis predicted where there is none


def test_the_table_renders_3d_records_and_drops_their_not_run_row(tmp_path, monkeypatch):
    monkeypatch.setattr(accuracy, "environment", lambda: {"load_average": [0.5, 1.0, 1.25]})
    m = {"Dice": 0.5, "IoU": 0.4, "HD95": 7.0, "whole": 0.8, "core": 0.6, "enhancing": 0.3}
    record = {"dataset": "brats_3_cases", "settings": "reduced", "tag": "", "variant": "leave-one-out, 3 folds",
              "loss": "jaccard", "model": "kayalibay_concat", "seed_iou": None, "seed_regions": (0.9, 0.79, 0.44),
              "hd95_unit": "mm", "steps": 100, "batch_size": 1, "input_size": "whole volume", "seed": "seed 001",
              "reduced_note": "4 mm voxels",
              "jaxseg": {"mean": m, "per_case": {"pat0001": m}, "train_cases": {"pat0001": ["pat0002", "pat0003"]},
                         "train_s": 10.0, "samples_per_s": 1.0}}
    text = accuracy.write(record, None, tmp_path).read_text()
    assert ("| brats_3_cases | reduced, leave-one-out, 3 folds | jaxseg | jaccard | 0.5 | 0.4 | 7 mm |  |  | "
            "100 x 1 @ whole volume | 10 | 1 | 1.2 | w/c/e Dice 0.90/0.79/0.44 | ours 0.80/0.60/0.30: no |") in text
    assert "| brats_3_cases |  |" not in text and "| spinal_cord_mr |  |" in text  # not run yet
    assert "| reduced | leave-one-out, 3 folds | jaxseg | jaccard | kayalibay_concat | pat0001 | pat0002, pat0003 |" \
        in text and "- brats_3_cases: seed 001; reduced: 4 mm voxels" in text
    assert (tmp_path / "brats_3_cases_reduced.json").is_file()


def _monai_python() -> str | None:
    for python in (os.environ.get("JAXSEG_MONAI_PYTHON"), sys.executable):
        if python and accuracy.monai_available(python) is None:
            return python
    return None


@pytest.mark.slow  # 2-3 min each on the shared 2-core CPU: a tiny 3D training in a torch process
@pytest.mark.parametrize("sampler", ["volumes", "blocks"])
def test_monai_baseline_3d_predicts_every_test_volume_on_its_own_grid(tmp_path, sampler):
    python = _monai_python()
    if python is None:
        pytest.skip("no Python with torch and monai (set JAXSEG_MONAI_PYTHON)")
    rng = np.random.default_rng(0)
    (tmp_path / "cases").mkdir()
    for case in ("a", "b", "t"):
        np.save(tmp_path / "cases" / f"{case}_image.npy", rng.normal(size=(64, 60, 16, 2)).astype(np.float32))
        np.save(tmp_path / "cases" / f"{case}_label.npy", (rng.random((64, 60, 16)) > 0.5).astype(np.uint8))
    # Resampled to 32 x 30 x 32: four poolings leave 2 voxels an axis (instance norm refuses 1 in training).
    settings = {"sampler": sampler, "block_shape": [32, 32, 32], "target_spacing": [2.0, 2.0, 1.0],
                "batch_size": 2, "steps": 2, "learning_rate": 1e-3, "weight_decay": 0.0, "num_classes": 2,
                "in_channels": 2, "features": [4, 4, 8, 8, 16, 4], "seed": 0,
                "augment": {"flip_p": 0.5, "rotate_p": 0.5, "rotate_deg": 30.0},
                "inference": {"roi_size": [32, 32, 32], "overlap": 0.5}, "train": ["a", "b"], "test": ["t"],
                "spacing": {c: [1.0, 1.0, 2.0] for c in "abt"}, "pads": [0.0, -1.0]}
    (tmp_path / "settings.json").write_text(json.dumps(settings))
    subprocess.run([python, str(REPO / "benchmarks" / "monai_baseline_3d.py"), str(tmp_path)], check=True)
    prediction = np.load(tmp_path / "predictions" / "t.npy")
    assert prediction.shape == (64, 60, 16) and prediction.dtype == np.uint8 and set(np.unique(prediction)) <= {0, 1}
