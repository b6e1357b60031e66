"""benchmarks/accuracy.py's pieces on a tiny generated image folder: the pinned split and settings
of a run, the cases exported to the MONAI script in the files' pixel order, one scorer for both
frameworks, the steady-state throughput, and the results table. The MONAI script itself runs only
where a Python with torch and monai is found (JAXSEG_MONAI_PYTHON, else this Python)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import accuracy  # noqa: E402

from jaxseg.metrics import hausdorff_distance  # noqa: E402

TINY = accuracy.Dataset("isbi_membranes_unet", "tiny", "no seed number")


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory):
    """tiny/images/cN.png (20 x 24 grey) with labels/cN.png (0 = membrane, 255 = cell, as ISBI) and
    split files tiny_test.txt (c3) and tiny_val.txt (c2)."""
    root = tmp_path_factory.mktemp("accuracy")
    (root / "tiny" / "images").mkdir(parents=True)
    (root / "tiny" / "labels").mkdir()
    rows, columns = np.indices((20, 24))
    for n in range(5):
        disc = (rows - 8 - n) ** 2 + (columns - 10 - n) ** 2 < 25
        image = (40 + 150 * disc + 7 * (columns % 3)).astype(np.uint8)
        Image.fromarray(image).save(root / "tiny" / "images" / f"c{n}.png")
        Image.fromarray(np.where(disc, 0, 255).astype(np.uint8)).save(root / "tiny" / "labels" / f"c{n}.png")
    (root / "splits").mkdir()
    (root / "splits" / "tiny_test.txt").write_text("c3\n")
    (root / "splits" / "tiny_val.txt").write_text("# val\nc2\n")
    return root


def test_run_config_pins_the_committed_split_and_the_reduced_settings(tmp_path):
    config, overrides = accuracy.run_config(accuracy.DATASETS["cxr_lungs"], tmp_path, accuracy.SETTINGS["reduced"])
    assert (config.data.batch_size, tuple(config.prepare.slice_size), config.train.steps) == (4, (128, 128), 80)
    assert config.model.base_features == 16 and accuracy.monai_features(config) == [16, 32, 64, 128, 256, 16]
    assert (config.train.val_every, config.train.checkpoint_every, config.train.log_every) == (80, 80, 20)
    assert config.data.test_cases == str(REPO / "configs" / "splits" / "cxr_lung_covid_hannover_test.txt")
    assert config.loss.name == "bce" and f"data.root={tmp_path / 'cxr_lung_covid_hannover'}" in overrides
    isbi = accuracy.DATASETS["isbi_membranes"]
    full, _ = accuracy.run_config(isbi, tmp_path, accuracy.SETTINGS["full"], "cross_entropy")
    assert (full.data.batch_size, tuple(full.prepare.slice_size), full.train.steps, full.loss.name) == \
        (8, (), 300, "cross_entropy")  # ISBI trains at the images' own size.
    assert full.model.base_features is None and accuracy.monai_features(full) == [64, 128, 256, 512, 1024, 64]


def test_export_writes_the_files_pixels_and_classes_in_their_order(tiny_root, tmp_path):
    config, _ = accuracy.run_config(TINY, tiny_root, {"slice_size": (16, 16), "batch_size": 2, "steps": 2,
                                                       "base_features": 4}, splits=tiny_root / "splits")
    references, train, test, labels = accuracy.export_cases(config, tmp_path)
    assert (sorted(train), test, labels) == (["c0", "c1", "c4"], ["c3"], {0: "cell", 1: "membrane"})
    reference, spacing, source, unit = references["c3"]
    mask = np.asarray(Image.open(tiny_root / "tiny" / "labels" / "c3.png"))
    np.testing.assert_array_equal(reference, mask == 0)
    assert (spacing, Path(source).name, unit) == ((1.0, 1.0), "c3.png", "px")
    image = np.load(tmp_path / "cases" / "c0_image.npy")
    pixels = np.asarray(Image.open(tiny_root / "tiny" / "images" / "c0.png"), np.float64)
    np.testing.assert_allclose(image[:, :, 0], (pixels - pixels.mean()) / pixels.std(), atol=1e-4)
    np.testing.assert_array_equal(np.load(tmp_path / "cases" / "c0_label.npy"),
                                  np.asarray(Image.open(tiny_root / "tiny" / "labels" / "c0.png")) == 0)
    assert not (tmp_path / "cases" / "c3_label.npy").exists()  # The held-out labels stay with the scorer.


def test_score_measures_2d_masks_with_their_spacing_and_the_instance_map():
    reference = np.zeros((12, 10), np.uint8)
    reference[2:6, 2:6] = 1
    prediction = np.roll(reference, 1, axis=1)
    scores = accuracy.score(prediction, reference, {0: "background", 1: "cell"}, (2.0, 1.0), instances=reference)
    hd95 = hausdorff_distance(prediction == 1, reference == 1, (2.0, 1.0), percentile=95)
    assert scores == {"Dice": 0.75, "IoU": 0.6, "HD95": hd95, "mAP": pytest.approx(0.2)}
    assert hd95 == 1.0  # A one-column shift, measured in 2D (a one-slice volume would give other values).


def test_steady_samples_per_s_leaves_out_the_compiling_window(tmp_path):
    log = tmp_path / "metrics.jsonl"
    log.write_text("".join(json.dumps({"step": s, "samples_per_s": r}) + "\n" for s, r in
                           [(10, 0.1), (20, 4.0), (30, 2.0), (40, 4.0)]))
    assert accuracy.steady_samples_per_s(log, 4) == 3.0  # 120 samples in 10 + 20 + 10 s.


@pytest.fixture(autouse=True)
def fixed_machine(monkeypatch):
    """Records stamped with one machine state: the table's load column is its 15-minute load average."""
    monkeypatch.setattr(accuracy, "environment", lambda: {"load_average": [0.5, 1.0, 1.25]})


def test_the_table_has_a_row_per_framework_and_names_what_did_not_run(tmp_path):
    scores = {"Dice": 0.9, "IoU": 0.89, "HD95": 12.5}
    result = {"dataset": "cxr_lungs", "settings": "reduced", "loss": "bce", "seed_iou": 0.9, "hd95_unit": "px",
              "steps": 40, "batch_size": 4, "input_size": [128, 128],
              "jaxseg": {"mean": scores, "train_s": 61.04, "samples_per_s": 2.5},
              "monai": {"mean": {**scores, "IoU": 0.7}, "train_s": 50.0, "samples_per_s": 3.0}}
    lines = accuracy.write(result, None, tmp_path).read_text().splitlines()
    assert lines[2] == ("| cxr_lungs | reduced | jaxseg | bce | 0.9 | 0.89 | 12.5 px |  |  | 40 x 4 @ 128^2 | 61 | 2.5 "
                        "| 1.2 | IoU ~0.9 | yes |")  # Within 0.02 of the seed's IoU.
    assert lines[3] == ("| cxr_lungs | reduced | monai | dice_ce | 0.9 | 0.7 | 12.5 px |  |  | 40 x 4 @ 128^2 | 50 | 3 "
                        "| 1.2 |  |  |")
    assert lines[4].startswith("| isbi_membranes |") and lines[4].endswith("| not run (time) |")
    assert json.loads((tmp_path / "cxr_lungs_reduced.json").read_text())["jaxseg"]["train_s"] == 61.04


def test_the_suite_table_sets_each_suite_run_against_its_baseline_and_leaves_trials_out(tmp_path):
    def record(dice, monai_dice, **more):
        return {"dataset": "cxr_lungs", "settings": "reduced", "loss": "bce", "seed_iou": None, "hd95_unit": "px",
                "steps": 40, "batch_size": 4, "input_size": [128, 128], **more,
                "jaxseg": {"mean": {"Dice": dice, "IoU": 0.5, "HD95": 1.0}, "train_s": 1.0, "samples_per_s": 1.0},
                "monai": {"mean": {"Dice": monai_dice, "IoU": 0.5, "HD95": 1.0}, "train_s": 1.0, "samples_per_s": 1.0}}
    accuracy.write(record(0.9, 0.925), None, tmp_path)
    accuracy.write(record(0.95, 0.94, run_seed=1), None, tmp_path)
    accuracy.write(record(0.5, 0.925, loss="dice_ce"), "dice_ce", tmp_path)  # a recipe trial: not the suite's
    text = (tmp_path / "accuracy_reduced.md").read_text()
    suite = text[text.index("against their baselines"):].strip().splitlines()[2:]
    assert suite[2:] == ["| cxr_lungs | 0 | jaxseg | Dice | 0.9 | monai | 0.925 | -0.025 |",
                          "| cxr_lungs | 1 | jaxseg | Dice | 0.95 | monai | 0.94 | +0.010 |"]


def test_the_table_shows_a_detection_record_beside_torchvision_and_an_earlier_recipe(tmp_path):
    boxes = {"dataset": "cxr_lung_boxes", "settings": "reduced", "loss": "faster_rcnn", "baseline_loss": "faster_rcnn",
             "seed_iou": None, "hd95_unit": "", "steps": 60, "batch_size": 4, "input_size": [192, 192], "run_seed": 1,
             "monai": "not run: a detection task",
             "jaxseg": {"mean": {"AP50": 0.75, "rsna_mAP": 0.5}, "train_s": 100.0, "samples_per_s": 2.0},
             "torchvision": {"mean": {"AP50": 0.5, "rsna_mAP": 0.25}, "train_s": 80.0, "samples_per_s": 3.0}}
    accuracy.write(boxes, None, tmp_path)
    earlier = {"dataset": "dsb_nuclei", "settings": "reduced", "loss": "bce", "recipe": "batch norm", "seed_iou": None,
               "hd95_unit": "px", "steps": 80, "batch_size": 4, "input_size": [128, 128],
               "jaxseg": {"mean": {"Dice": 0.8, "IoU": 0.7, "HD95": 5.0}, "train_s": 90.0, "samples_per_s": 4.0}}
    lines = accuracy.write(earlier, "bce", tmp_path).read_text().splitlines()
    assert lines[2] == ("| cxr_lung_boxes | reduced (seed 1) | jaxseg | faster_rcnn |  |  |  |  | 0.75 "
                        "| 60 x 4 @ 192^2 | 100 | 2 | 1.2 |  |  |")
    assert lines[3].startswith("| cxr_lung_boxes | reduced (seed 1) | torchvision | faster_rcnn |  |  |  |  | 0.5 |")
    assert lines[4].startswith("| dsb_nuclei | reduced | jaxseg | bce (batch norm) | 0.8 | 0.7 | 5 px |")
    assert not any(line.startswith("| cxr_lung_boxes |") and "not run" in line for line in lines)


def test_reuse_monai_takes_the_monai_side_of_the_same_run_only():
    run = {"dataset": "dsb_nuclei", "settings": "reduced", "steps": 80, "batch_size": 4, "input_size": [128, 128],
           "train_cases": 24, "test_cases": ["a"], "run_seed": 1, "monai": "not run: --no-monai"}
    monai = {"mean": {"Dice": 0.86}, "train_s": 118.0}
    reused = accuracy.reuse_monai(run, {**run, "monai": monai, "loss": "dice_ce"}, "earlier.json")
    assert reused["monai"] == monai and reused["monai_from"] == "earlier.json" and run["monai"].startswith("not run")
    with pytest.raises(ValueError, match=r"earlier.json: .*\['steps', 'run_seed'\]"):
        accuracy.reuse_monai(run, {**run, "monai": monai, "steps": 40, "run_seed": 0}, "earlier.json")


def test_in_unit_scales_the_spacing_of_files_in_mm_only():
    label = np.zeros((4, 4), np.uint8)
    references = {"sem": (label, (1e-4, 2e-4), "sem.png", "mm"), "plain": (label, (1.0, 1.0), "plain.png", "px")}
    scaled = accuracy.in_unit(references, ("µm", 1000.0))
    assert scaled["sem"][1] == pytest.approx((0.1, 0.2)) and scaled["sem"][3] == "µm"
    assert scaled["plain"] == references["plain"] and accuracy.in_unit(references, None) is references


def test_score_gives_each_class_dice_where_there_are_several():
    reference = np.zeros((8, 8), np.uint8)
    reference[1:4, 1:4], reference[5:7, 5:7] = 1, 2
    prediction = reference.copy()
    prediction[5:7, 5:7] = 0
    scores = accuracy.score(prediction, reference, {0: "background", 1: "myelin", 2: "axon"}, (1.0, 1.0))
    assert (scores["Dice myelin"], scores["Dice axon"], scores["Dice"]) == (1.0, 0.0, 0.5)


def test_axon_myelin_run_pins_rat_3_for_validation_and_test(tmp_path):
    from jaxseg.split import split_listing
    from tests.data_samples import AXON, need

    root = need(AXON).parent
    config, _ = accuracy.run_config(accuracy.DATASETS["axon_myelin"], root, accuracy.SETTINGS["reduced"])
    assert (config.model.num_classes, config.model.head, config.loss.name) == (3, "softmax", "dice_ce")
    listing = split_listing(config, tmp_path)
    assert listing["test"] == ["sub-rat3_sample-data10_SEM", "sub-rat3_sample-data9_SEM"]
    assert listing["val"] == ["sub-rat3_sample-data11_SEM"] and not any("rat3" in c for c in listing["train"])


@pytest.mark.slow  # about 13 s on an idle 2-core machine, most of it compiling the tiny network
def test_a_run_without_monai_scores_jaxseg_and_the_table_says_what_did_not_run(tiny_root, tmp_path, monkeypatch):
    monkeypatch.setitem(accuracy.SETTINGS, "tiny", {"slice_size": (16, 16), "batch_size": 2, "steps": 2,
                                                    "base_features": 4})
    result = accuracy.run_dataset("tiny", TINY, tiny_root, "tiny", str(tmp_path / "no-python"), None, tmp_path / "run",
                                  tiny_root / "splits", ("model.depth=2",))
    assert result["monai"].startswith(f"not run: {tmp_path / 'no-python'}")
    assert (result["steps"], result["batch_size"], result["hd95_unit"], result["test_cases"]) == (2, 2, "px", ["c3"])
    evaluated = json.loads((tmp_path / "run" / "jaxseg" / "eval" / "summary.json").read_text())
    assert result["jaxseg"]["per_case"]["c3"]["Dice"] == pytest.approx(evaluated["mean"]["membrane"]["Dice"])
    assert result["jaxseg"]["parameters"] == 7_482  # jaxseg model-info of this 4-16 channel network.
    lines = accuracy.write(result, None, tmp_path / "results").read_text().splitlines()
    assert lines[2].startswith("| tiny | tiny | jaxseg | dice_ce | ")
    assert "| cxr_lungs |" in lines[3] and lines[3].endswith("| not run (time) |")
    assert (tmp_path / "results" / "tiny_tiny.json").is_file()


def _monai_python() -> str | None:
    for python in (os.environ.get("JAXSEG_MONAI_PYTHON"), sys.executable):
        if python and accuracy.monai_available(python) is None:
            return python
    return None


@pytest.mark.slow
def test_monai_baseline_predicts_every_test_image_at_its_own_size(tmp_path):
    python = _monai_python()
    if python is None:
        pytest.skip("no Python with torch and monai (set JAXSEG_MONAI_PYTHON)")
    rng = np.random.default_rng(0)
    (tmp_path / "cases").mkdir()
    for case in ("a", "b", "t"):
        np.save(tmp_path / "cases" / f"{case}_image.npy", rng.normal(size=(20, 24, 1)).astype(np.float32))
        np.save(tmp_path / "cases" / f"{case}_label.npy", (rng.random((20, 24)) > 0.5).astype(np.uint8))
    # 32 x 32: four poolings leave 2 x 2 at the bottleneck (instance norm refuses 1 x 1 in training).
    settings = {"input_size": [32, 32], "batch_size": 2, "steps": 2, "learning_rate": 1e-3, "weight_decay": 1e-4,
                "num_classes": 2, "in_channels": 1, "features": [4, 4, 8, 8, 16, 4], "seed": 0,
                "augment": {"flip_p": 0.5, "rot90_p": 0.5, "elastic_p": 0.5, "elastic_sigma": 4.0,
                            "elastic_alpha": 1.0}, "train": ["a", "b"], "test": ["t"]}
    (tmp_path / "settings.json").write_text(json.dumps(settings))
    subprocess.run([python, str(REPO / "benchmarks" / "monai_baseline.py"), str(tmp_path)], check=True)
    prediction = np.load(tmp_path / "predictions" / "t.npy")
    assert prediction.shape == (20, 24) and prediction.dtype == np.uint8 and set(np.unique(prediction)) <= {0, 1}
    assert json.loads((tmp_path / "result.json").read_text())["parameters"] == 11_218


def test_the_table_renders_the_variants_of_the_3d_experiments(tmp_path):
    scores = {"Dice": 0.8, "IoU": 0.7, "HD95": 4.0}
    result = {"dataset": "brats_planes", "settings": "reduced", "loss": "bce", "seed_iou": None, "hd95_unit": "mm",
              "steps": 10, "batch_size": 4, "input_size": [128, 128], "seed_note": "fusion best",
              "reproduced": "fusion > best plane: no", "labels": {"jaxseg": "jaxseg axial"},
              "jaxseg": {"mean": scores, "train_s": 5.0, "samples_per_s": 2.0},
              "variants": {"3d": {"mean": scores, "train_s": 6.0, "samples_per_s": 1.0, "size": "10 x 2 @ 32x32x32"},
                           "combined": {"mean": {"Dice": 0.5}}}}
    lines = accuracy.write(result, None, tmp_path).read_text().splitlines()
    assert lines[2] == ("| brats_planes | reduced | jaxseg axial | bce | 0.8 | 0.7 | 4 mm |  |  | 10 x 4 @ 128^2 "
                        "| 5 | 2 | 1.2 | fusion best | fusion > best plane: no |")
    assert lines[3] == ("| brats_planes | reduced | jaxseg 3d | bce | 0.8 | 0.7 | 4 mm |  |  | 10 x 2 @ 32x32x32 "
                        "| 6 | 1 | 1.2 |  |  |")
    assert lines[4] == ("| brats_planes | reduced | jaxseg combined | bce | 0.5 |  |  |  |  | 10 x 4 @ 128^2 "
                        "|  |  |  |  |  |")


def test_plane_fusions_average_the_planes_probabilities():
    import accuracy_planes

    probs = {p: {"c": np.full((2, 2, 2), v, np.float32)} for p, v in
             {"axial": 0.9, "coronal": 0.3, "sagittal": 0.0, "3d": 0.6}.items()}
    fused = accuracy_planes.variants(probs)
    assert list(fused) == ["axial", "coronal", "sagittal", "axial+coronal", "axial+sagittal", "coronal+sagittal",
                           "combined", "3d"]
    assert fused["axial+coronal"]["c"][0, 0, 0] == pytest.approx(0.6)
    assert fused["combined"]["c"][0, 0, 0] == pytest.approx(0.4) and fused["3d"]["c"][0, 0, 0] == pytest.approx(0.6)


def test_the_mean_correction_curve_averages_each_step_over_objects():
    import accuracy_propagation

    rows = [{"object": o, "fraction": f, "corrected_slices": n, "Dice": d}
            for o, f, n, d in [("a", None, 0, 0.5), ("a", 0.2, 4, 0.7), ("b", None, 0, 0.3), ("b", 0.2, 2, 0.9)]]
    assert accuracy_propagation.mean_curve(rows) == [{"fraction": None, "corrected_slices": 0.0, "Dice": 0.4},
                                                     {"fraction": 0.2, "corrected_slices": 3.0, "Dice": 0.8}]
