"""`prepare`: the cache's contents on real samples, idempotence, interruption safety, bad cases."""

import itertools
import logging
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from jaxseg.config import ConfigError
from jaxseg.data.datasets import prepare_dataset
from jaxseg.data.msd import read_msd_index
from jaxseg.data.pipeline import training_data
from jaxseg.data.prepare import open_prepared
from jaxseg.io import ReadError, read_nifti
from tests.data_samples import SPLEEN, config_for, msd_spleen, nnunet_spine

REPO = Path(__file__).resolve().parent.parent


def _prepare(root, cache, **overrides):
    config = config_for(root, cache, **overrides)
    index = read_msd_index(root)
    summary = prepare_dataset(config, None, index)
    return summary, open_prepared(index.cases, summary.folder)


def _corners(affine, shape):
    """World positions (8, 3) of a grid's outer corners (voxel faces)."""
    index = np.array(list(itertools.product(*[(-0.5, n - 0.5) for n in shape])))
    return index @ affine[:3, :3].T + affine[:3, 3]


def test_spleen_ct_is_windowed_and_indexed(tmp_path):
    summary, (case,) = _prepare(msd_spleen(tmp_path / "d"), tmp_path / "cache",
                                **{"data.clip_hu": (-1024, 1024), "data.ct_divisor": 500})
    assert summary.prepared == ["spleen_2_crop"] and not summary.failed
    hu = read_nifti(SPLEEN / "imagesTr" / "spleen_2_crop.nii.gz").as_canonical()
    truth = read_nifti(SPLEEN / "labelsTr" / "spleen_2_crop.nii.gz").as_canonical().array
    assert case.image.shape == (164, 166, 26, 1) and case.image.dtype == np.float32
    np.testing.assert_allclose(case.image[..., 0], np.clip(hu.array, -1024, 1024) / 500, atol=1e-6)
    np.testing.assert_array_equal(case.label, truth)
    np.testing.assert_allclose(case.meta["affine"], hu.affine)
    assert case.pad_value.tolist() == pytest.approx([-2.048])
    assert case.class_voxels.tolist() == [truth.size - 96672, 96672]
    rows = case.locations
    assert len(rows) == 10000 and (rows[:, 0] == 1).all()
    assert (case.label[rows[:, 1], rows[:, 2], rows[:, 3]] == 1).all()
    np.testing.assert_array_equal(case.slice_counts(2)[1], (truth == 1).sum(axis=(0, 1)))
    # Axial slices are contiguous on disk.
    assert np.load(case.directory / "image.npy", mmap_mode="r").shape == (26, 166, 164, 1)


def test_resampling_keeps_the_field_of_view_and_the_organ(tmp_path):
    _, (case,) = _prepare(msd_spleen(tmp_path / "d"), tmp_path / "cache", **{"prepare.spacing_mm": (1.59, 1.59, 2.5)})
    source = read_nifti(SPLEEN / "labelsTr" / "spleen_2_crop.nii.gz").as_canonical()
    assert case.shape == (82, 83, 52)
    affine = np.array(case.meta["affine"])
    np.testing.assert_allclose(_corners(affine, case.shape), _corners(source.affine, source.shape), atol=1e-3)
    spacing = np.array(case.meta["spacing"])
    np.testing.assert_allclose(spacing, [1.59, 1.59, 2.5], rtol=0.01)
    volume_mm3 = case.class_voxels[1] * spacing.prod()
    assert volume_mm3 == pytest.approx(96672 * np.prod(source.spacing), rel=0.03)


def test_foreground_crop_moves_the_affine_with_the_voxels(tmp_path):
    _, (case,) = _prepare(msd_spleen(tmp_path / "d"), tmp_path / "cache",
                          **{"prepare.crop": "foreground", "prepare.crop_margin_mm": 10.0})
    source = read_nifti(SPLEEN / "labelsTr" / "spleen_2_crop.nii.gz").as_canonical()
    inside = np.argwhere(source.array)
    low = np.maximum(inside.min(0) - np.ceil(10 / np.array(source.spacing)).astype(int), 0)
    high = np.minimum(inside.max(0) + 1 + np.ceil(10 / np.array(source.spacing)).astype(int), source.shape)
    assert case.shape == tuple(high - low)
    np.testing.assert_array_equal(case.label, source.array[tuple(slice(a, b) for a, b in zip(low, high))])
    affine = np.array(case.meta["affine"])
    np.testing.assert_allclose(affine[:3, 3], source.affine[:3, :3] @ low + source.affine[:3, 3])
    assert case.class_voxels[1] == 96672


def test_mr_channels_are_z_scored_on_their_non_zero_voxels(tmp_path):
    _, (case,) = _prepare(nnunet_spine(tmp_path / "d"), tmp_path / "cache", **{"model.in_channels": 3})
    image = np.asarray(case.image)
    assert image.shape == (131, 141, 16, 3)
    raw = read_msd_index(tmp_path / "d").cases[0].images
    for c in range(3):
        values = read_nifti(raw[c]).array
        x = image[..., c][values != 0]
        assert abs(float(x.mean())) < 1e-4 and float(x.std()) == pytest.approx(1.0, abs=1e-4)


def test_prepare_is_idempotent_and_redoes_changed_cases(phantom_root, tmp_path):
    root = shutil.copytree(phantom_root, tmp_path / "d")
    first, cases = _prepare(root, tmp_path / "cache", **{"model.num_classes": 5})
    assert len(first.prepared) == 5 and not first.reused
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "cache").rglob("*.npy")}
    again, _ = _prepare(root, tmp_path / "cache", **{"model.num_classes": 5})
    assert not again.prepared and len(again.reused) == 5 and again.folder == first.folder
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "cache").rglob("*.npy")} == stamps
    os.utime(root / "labelsTr" / "phantom_002.nii.gz", ns=(0, 0))  # the source changed: prepare it again
    third, _ = _prepare(root, tmp_path / "cache", **{"model.num_classes": 5})
    assert third.prepared == ["phantom_002"]
    other, _ = _prepare(root, tmp_path / "cache", **{"model.num_classes": 5, "data.clip_hu": (-100, 100)})
    assert other.folder != first.folder and len(other.prepared) == 5


_CRASH = """
import os, sys
import numpy as np
from jaxseg.data.datasets import prepare_dataset
from jaxseg.data.msd import read_msd_index
from tests.data_samples import config_for

saves = []
real_save = np.save
def save(path, array):
    saves.append(path)
    if len(saves) == 4:  # the second case's label: its image is on disk, the rest is not
        os.kill(os.getpid(), 9)
    real_save(path, array)
np.save = save
root, cache = sys.argv[1:3]
prepare_dataset(config_for(root, cache, **{"model.num_classes": 5}), None, read_msd_index(root))
"""


def test_a_killed_prepare_leaves_no_half_case_and_a_rerun_finishes(phantom_root, tmp_path):
    cache = tmp_path / "cache"
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(_CRASH), str(phantom_root), str(cache)],
                            cwd=REPO, capture_output=True, timeout=300)
    assert result.returncode == -9
    index = read_msd_index(phantom_root)
    config = config_for(phantom_root, cache, **{"model.num_classes": 5})
    folder = next(cache.iterdir())
    assert [c.case_id for c in open_prepared(index.cases, folder)] == ["phantom_000"]
    leftovers = [p.name for p in (folder / "cases").iterdir()]
    assert "phantom_001" not in leftovers and any(name.startswith(".tmp-") for name in leftovers)
    summary = prepare_dataset(config, None, index)
    assert summary.reused == ["phantom_000"] and len(summary.prepared) == 4
    assert sorted(p.name for p in (folder / "cases").iterdir()) == [c.case_id for c in index.cases]
    clean = prepare_dataset(config_for(phantom_root, tmp_path / "clean", **{"model.num_classes": 5}), None, index)
    for name in ("image.npy", "label.npy"):
        np.testing.assert_array_equal(np.load(folder / "cases" / "phantom_001" / name),
                                      np.load(clean.folder / "cases" / "phantom_001" / name))


def test_bad_cases_are_skipped_named_and_counted(phantom_root, tmp_path, caplog):
    root = shutil.copytree(phantom_root, tmp_path / "d")
    broken = root / "imagesTr" / "phantom_001.nii.gz"
    broken.write_bytes(broken.read_bytes()[:2000])  # truncated download
    shutil.copy(root / "labelsTr" / "phantom_000.nii.gz", root / "labelsTr" / "phantom_003.nii.gz")  # wrong label
    config = config_for(root, tmp_path / "cache", **{"model.num_classes": 5})
    index = read_msd_index(root)
    with caplog.at_level(logging.ERROR):
        summary = prepare_dataset(config, None, index)
    assert sorted(summary.failed) == ["phantom_001", "phantom_003"] and len(summary.prepared) == 3
    assert "phantom_001.nii.gz" in summary.failed["phantom_001"]
    assert "case phantom_001 skipped" in caplog.text and "case phantom_003 skipped" in caplog.text
    data = training_data(config, None, index, index.cases, 2)
    assert [c.case_id for c in data.cases] == ["phantom_000", "phantom_002", "phantom_004"]
    strict = config_for(root, tmp_path / "cache", **{"model.num_classes": 5, "prepare.on_error": "fail"})
    with pytest.raises(ReadError, match="phantom_001.nii.gz"):
        prepare_dataset(strict, None, index)


def test_cache_needs_a_place():
    with pytest.raises(ConfigError, match="'data.cache_dir' is empty"):
        from jaxseg.config import load_config
        from jaxseg.data.prepare import cache_folder
        cache_folder(load_config("demo"), None, None, None)
