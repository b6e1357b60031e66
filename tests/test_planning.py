"""Self-configuration: fingerprint values, nnU-Net's rules, and patch/batch from measured memory."""

from __future__ import annotations

import dataclasses
import json
import math
import os

import numpy as np
import pytest

from jaxseg.config import load_config
from jaxseg.data.msd import read_msd_index
from jaxseg.io import Volume, write_nifti
from jaxseg.planning import rules
from jaxseg.planning.fingerprint import cached_fingerprint, dataset_fingerprint
from jaxseg.planning.planner import data_config_from, plan_from_fingerprint, write_plans
from jaxseg.planning.search import padded_topology, search
from jaxseg.planning.settings import to_config


def _write_case(root, case_id, spacing, values):
    """A (6, 5, 4) CT-less MR case: zero outside the box [1:5, 1:4, 1:3] (4 x 3 x 2 voxels), whose first
    voxels (C order) hold `values` and are labelled 1; the rest of the box is 7.0 and labelled 0."""
    image, label = np.zeros((6, 5, 4), np.float32), np.zeros((6, 5, 4), np.uint8)
    box = np.full((4, 3, 2), 7.0, np.float32)
    box.ravel()[: len(values)] = values
    labels = np.zeros((4, 3, 2), np.uint8)
    labels.ravel()[: len(values)] = 1
    image[1:5, 1:4, 1:3], label[1:5, 1:4, 1:3] = box, labels
    affine = np.diag([*spacing, 1.0])
    write_nifti(Volume(image, affine), root / "imagesTr" / f"{case_id}_0000.nii.gz")
    write_nifti(Volume(label, affine), root / "labelsTr" / f"{case_id}.nii.gz")


@pytest.fixture
def known_dataset(tmp_path):
    """Two cases whose foreground intensities are 1..12 and 13..24 (spacings 1 x 2 x 3 and 1 x 2 x 5 mm)."""
    root = tmp_path / "known"
    (root / "imagesTr").mkdir(parents=True)
    (root / "labelsTr").mkdir()
    _write_case(root, "a", (1.0, 2.0, 3.0), np.arange(1, 13))
    _write_case(root, "b", (1.0, 2.0, 5.0), np.arange(13, 25))
    (root / "dataset.json").write_text(json.dumps({"channel_names": {"0": "T2"}, "labels": {"background": 0, "x": 1},
                                                   "numTraining": 2, "file_ending": ".nii.gz"}))
    return root


def test_fingerprint_equals_hand_computed_values(known_dataset):
    fp = dataset_fingerprint(read_msd_index(known_dataset))
    assert fp["spacings"] == [[1.0, 2.0, 3.0], [1.0, 2.0, 5.0]]
    assert [c["shape"] for c in fp["cases"]] == [[6, 5, 4], [6, 5, 4]]
    assert [c["orientation"] for c in fp["cases"]] == ["RAS", "RAS"]
    assert fp["shapes_after_crop"] == [[4, 3, 2], [4, 3, 2]]
    assert [c["crop_box"] for c in fp["cases"]] == [[[1, 5], [1, 4], [1, 3]]] * 2
    assert fp["median_relative_size_after_crop"] == 24 / 120
    # Foreground: 1..24 (all taken, no draw). Percentile p of 1..n by linear interpolation: 1 + p/100 (n - 1).
    stats = fp["foreground_intensity"][0]
    assert stats["modality"] == "T2" and stats["samples"] == 24
    assert stats["mean"] == 12.5
    assert stats["std"] == pytest.approx(math.sqrt((24**2 - 1) / 12))
    assert stats["median"] == 12.5
    assert stats["percentile_00_5"] == pytest.approx(1 + 0.005 * 23)
    assert stats["percentile_99_5"] == pytest.approx(1 + 0.995 * 23)
    assert (stats["min"], stats["max"]) == (1.0, 24.0)
    assert fp["class_voxels"] == [2 * 120 - 24, 24]
    assert fp["class_fraction"] == [216 / 240, 24 / 240]


def test_fingerprint_is_cached_and_recomputed_when_a_file_changes(known_dataset, tmp_path):
    config = data_config_from(str(known_dataset))
    config.data.cache_dir = str(tmp_path / "cache")
    index = read_msd_index(known_dataset)
    first, path = cached_fingerprint(config, None, index)
    assert path.name == "fingerprint.json" and path.parent.parent == tmp_path / "cache"
    assert json.loads(path.read_text()) == first
    path.write_text(json.dumps({**first, "num_cases": -1}))  # A marker: kept while the sources are unchanged.
    assert cached_fingerprint(config, None, index)[0]["num_cases"] == -1
    label = known_dataset / "labelsTr" / "a.nii.gz"
    os.utime(label, ns=(label.stat().st_atime_ns, label.stat().st_mtime_ns + 10**9))
    assert cached_fingerprint(config, None, read_msd_index(known_dataset))[0]["num_cases"] == 2


def test_target_spacing_takes_the_10th_percentile_of_an_anisotropic_axis():
    spacings = [(1.0, 1.0, 3.0), (1.0, 1.0, 5.0), (1.0, 1.0, 6.0)]
    shapes = [(200, 200, 20)] * 3
    # Median z 5 > 3 x 1 and 20 x 3 < 200: z takes percentile 10 of (3, 5, 6) = 3 + 0.2 x (5 - 3).
    assert rules.target_spacing(spacings, shapes).tolist() == [1.0, 1.0, 3.4]
    # Not anisotropic in voxels (z has as many as the others): the median.
    assert rules.target_spacing(spacings, [(200, 200, 200)] * 3).tolist() == [1.0, 1.0, 5.0]


def test_pooling_rule_on_the_demo_phantom_grid():
    # 64 x 64 x 32 at 6 x 6 x 8 mm: all axes within 2x; x, y pool to 4 (4 times), z to 4 (3 times).
    pools, strides, kernels, padded = rules.pool_and_conv_props((6.0, 6.0, 8.0), (64, 64, 32))
    assert pools == [4, 4, 3]
    assert strides == [[1, 1, 1], [2, 2, 2], [2, 2, 2], [2, 2, 2], [2, 2, 1]]
    assert kernels == [[3, 3, 3]] * 5
    assert padded == [64, 64, 32]
    # 1.5 x 1.5 x 6 mm: z waits until x, y are 6 mm (two pools; its kernel is 1 until then), then pools once.
    pools, strides, kernels, _ = rules.pool_and_conv_props((1.5, 1.5, 6.0), (48, 48, 12))
    assert pools == [3, 3, 1] and kernels[0] == [3, 3, 1]
    assert padded_topology((6.0, 6.0, 8.0), (60, 64, 30)) == (3, (4, 4, 3), (64, 64, 32))


def test_normalization_and_batch_cap_rules():
    assert rules.normalization(["CT", "T2"], 0.5) == [("CTNormalization", False), ("ZScoreNormalization", True)]
    assert rules.normalization(["ct", "nonorm"], 0.9) == [("CTNormalization", False), ("NoNormalization", False)]
    voxels = rules.dataset_voxels((64, 64, 32), 14)
    assert rules.batch_cap(voxels, (64, 64, 32)) == 2  # round(0.7) = 1, at least 2.
    assert rules.batch_cap(voxels, (64, 64)) == 22  # round(22.4)
    assert rules.needs_lowres((64, 64, 32), (128, 128, 64)) is True  # 12.5% < 25%
    assert rules.needs_lowres((64, 64, 32), (64, 64, 64)) is False


# The memory search on a small network: the tiny phantom grid (32 x 32 x 16 at 12 x 12 x 16 mm).
TINY_FP = {
    "spacings": [[12.0, 12.0, 16.0]] * 5, "shapes_after_crop": [[32, 32, 16]] * 5, "channels": ["CT"],
    "labels": {"0": "background", "1": "liver", "2": "spleen", "3": "kidney", "4": "spine"}, "num_cases": 5,
    "median_relative_size_after_crop": 1.0,
    "foreground_intensity": [{"mean": 100.0, "std": 50.0, "percentile_00_5": -20.0, "percentile_99_5": 400.0}],
}


def _make_2d(patch, depth, batch):
    """A small 2D nnU-Net-like step (base 4 features): the search is the same in 2D and 3D, and 2D compiles fast."""
    from jaxseg.planning.planner import _model_2d
    return to_config("t", _model_2d(patch, depth, batch, 2, base_features=4))


def _search(budget, dataset_voxels=5 * 32 * 32 * 16):
    """The search on 32 x 32 slices of 12 x 12 mm; by default 5 cases of 32 x 32 x 16 voxels, so the 5%
    cap holds the batch at round(4096 x 0.05 / 1024) = 4."""
    return search(_make_2d, (12.0, 12.0), (32, 32), (32, 32), dataset_voxels, budget)


@pytest.fixture(scope="module")
def full_peak():
    """Peak bytes of the small 2D step at 32 x 32, batch 2."""
    return _search(2**40, dataset_voxels=0).tried[0][1]


@pytest.mark.slow  # compiles the 3D step at several patch sizes: 20-30 s with its fixture
def test_search_shrinks_the_patch_until_batch_2_fits_and_the_larger_one_does_not(full_peak):
    budget = full_peak - 1
    found = _search(budget, dataset_voxels=1e9)  # No cap: memory limits the batch.
    (first, first_peak), *_, (last, last_peak) = found.tried
    assert first == (32, 32) and first_peak > budget
    assert found.patch == last and last_peak <= budget < found.tried[-2][1]
    # nnU-Net's order: the axis largest relative to the median shape, ties to the last; it loses the
    # divisor of the next smaller patch: 32 - 8 = 24 pools twice (depth 2), so 32 - 4 = 28.
    assert found.tried[1][0] == (32, 28)
    assert found.peak_bytes <= budget < found.next_batch_peak_bytes
    assert found.batch_limit == "memory"


@pytest.mark.slow
def test_smaller_budget_never_gives_a_larger_patch_times_batch_and_search_is_deterministic(full_peak):
    sizes = []
    for budget in (4 * full_peak, full_peak, full_peak - 1):
        found = _search(budget, dataset_voxels=0)  # Batch capped at 2: one compile per patch.
        sizes.append(int(np.prod(found.patch)) * found.batch)
    assert sizes[:2] == [32 * 32 * 2, 32 * 32 * 2] and sizes[2] < sizes[1]
    assert dataclasses.asdict(_search(full_peak - 1, dataset_voxels=0)) == dataclasses.asdict(found)


@pytest.mark.slow  # 29 s on 2 cores: a search over memory up to 2^40 bytes compiles many steps
def test_batch_is_capped_at_5_percent_of_the_dataset():
    found = _search(2**40)
    assert (found.batch, found.batch_cap, found.next_batch_peak_bytes) == (4, 4, None)
    assert found.batch_limit == "5% of the dataset's voxels (cap 4)"


TINY_DATA = ["phantom.num_cases=5", "phantom.shape=(32,32,16)", "phantom.spacing_mm=(12.0,12.0,16.0)",
             "data.num_test=1"]


def test_written_config_loads_as_the_settings_it_was_rendered_from(tmp_path):
    from jaxseg.planning.planner import _model_3d
    from jaxseg.planning.settings import dataset_settings, nnunet_recipe
    from jaxseg.planning.writer import write_config

    settings = [*dataset_settings(load_config("demo", TINY_DATA)), *nnunet_recipe(3, (0, 1, 2)),
                *_model_3d((32, 32, 16), 3, 2, 4)]
    path = write_config(tmp_path / "made.py", "made", settings, ["Header line.", "More."])
    assert load_config(str(path)) == to_config("made", settings)
    text = path.read_text()
    assert text.startswith('"""Header line.\nMore.\n"""\n')
    assert "    # nnU-Net: SGD, nesterov, momentum 0.99, lr 0.01, poly 0.9\n    c.optimizer.name = 'sgd'\n" in text


@pytest.mark.slow
def test_plan_writes_configs_that_load_as_planned(tmp_path):
    plans = plan_from_fingerprint(TINY_FP, load_config("demo", TINY_DATA), 2**30, "tiny", base_features=4)
    d3, d2 = plans["3d"].decisions, plans["2d"].decisions
    assert (d3["target_spacing"], d3["patch"], d3["nnunet_pools"], d3["depth"]) == ([12.0, 12.0, 16.0], [32, 32, 16],
                                                                                     [3, 3, 2], 2)
    assert d3["start_patch"] == [32, 32, 16] and d3["smallest_case"] == [32, 32, 16]
    assert d3["batch"] == 2 and d3["lowres_needed"] is False  # 5% of 5 x 32 x 32 x 16 is 0.25 patches: batch 2.
    assert (d2["plane"], d2["patch"], d2["nnunet_pools"], d2["batch"]) == ("axial", [32, 32], [3, 3], 4)
    written = write_plans(plans, tmp_path / "tiny", 2**30, tmp_path / "x" / "fingerprint.json", "test")
    assert sorted(p.name for p in written.values()) == ["tiny_2d.py", "tiny_3d.py"]
    config = load_config(str(written["3d"]))
    assert config == to_config("tiny_3d", plans["3d"].settings)
    assert (config.data.source, config.phantom.num_cases, config.data.num_test) == ("phantom", 5, 1)
    assert (config.sampling.block_shape, config.data.batch_size, config.model.depth) == ((32, 32, 16), 2, 2)
    assert config.model.deep_supervision is False  # Depth 2: too shallow for nnU-Net's weights.
    assert (config.data.clip_hu, config.data.ct_divisor, config.data.normalize) == ((-20.0, 400.0), 50.0, "auto")
    assert (config.optimizer.name, config.optimizer.momentum, config.optimizer.nesterov) == ("sgd", 0.99, True)
    text = written["3d"].read_text()
    assert "    # nnU-Net's pools per axis (3, 3, 2) (bottleneck edge >= 4); jaxseg pools all axes" in text
    assert "cascade rule (25%) needs no low-resolution stage." in text
    config_2d = load_config(str(written["2d"]))
    assert (config_2d.data.plane, config_2d.data.sampler, config_2d.data.batch_size) == ("axial", "slices", 4)


@pytest.mark.slow
def test_planning_is_deterministic():
    data = load_config("demo", TINY_DATA)
    plans = [plan_from_fingerprint(TINY_FP, data, 2**30, "tiny", base_features=4) for _ in range(2)]
    for stage in ("2d", "3d"):
        assert plans[0][stage].decisions == plans[1][stage].decisions
        assert plans[0][stage].settings == plans[1][stage].settings


def test_fingerprint_command_prints_and_caches_the_fingerprint(known_dataset, tmp_path, capsys):
    from jaxseg.cli import main

    assert main(["fingerprint", "--config", str(known_dataset), "--workdir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "2 cases, channels ['T2'], median cropped size 0.200 of the image" in out
    assert "channel 0 (T2): foreground mean 12.5, std 6.922, 0.5/99.5 percentiles 1.115/23.89" in out
    cached = list((tmp_path / "prepared").glob("known-*/fingerprint.json"))
    assert len(cached) == 1 and json.loads(cached[0].read_text())["num_cases"] == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["plan", "--dataset", str(empty), "--budget", "1GiB"]) == 2
    assert f"--dataset {empty}: a folder must hold a dataset.json" in capsys.readouterr().err
