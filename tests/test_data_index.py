"""Dataset indexes (Decathlon, nnU-Net raw) on real samples, and splits by subject and fold."""

import json
from pathlib import Path

import numpy as np
import pytest

from jaxseg.config import ConfigError, load_config
from jaxseg.data.cases import read_case
from jaxseg.data.msd import Case, read_msd_index, split_cases
from jaxseg.io import ReadError
from tests.data_samples import SPINE, dicom_liver, msd_spleen, nnunet_spine, nrrd_radiomics


def test_decathlon_layout_on_the_real_spleen(tmp_path):
    index = read_msd_index(msd_spleen(tmp_path / "Task09"))
    assert [c.case_id for c in index.cases] == ["spleen_2_crop"]
    assert index.labels == {0: "background", 1: "spleen"} and index.channels == ("CT",)
    case = read_case(index.cases[0], index.num_classes, 1)
    assert case.image.array.shape == (164, 166, 26, 1) and case.image.array.dtype == np.float32
    assert case.label.array.shape == (164, 166, 26) and int(case.label.array.sum()) == 96672
    assert case.image.orientation == ("R", "A", "S")


def test_nnunet_layout_stacks_channel_files(tmp_path):
    index = read_msd_index(nnunet_spine(tmp_path / "Dataset001"))
    case = index.cases[0]
    assert case.case_id == "unf01" and [p.name for p in case.images] == [f"unf01_{c:04d}.nii.gz" for c in range(3)]
    assert index.channels == ("T1w", "T2w", "T2star") and index.labels == {0: "background", 1: "cord"}
    loaded = read_case(case, 2, 3)
    assert loaded.image.array.shape == (131, 141, 16, 3)
    assert int(loaded.label.array.sum()) == 1227
    import nibabel as nib
    t2 = np.asarray(nib.load(SPINE / "sub-unf01_T2w.nii.gz").dataobj)
    np.testing.assert_array_equal(loaded.image.array[..., 1], t2)  # already RAS: no reorientation


def test_msd_json_with_nnunet_channel_files(tmp_path):
    """nnU-Net's converted Decathlon sets keep a `training` list naming `case.nii.gz` but store `case_0000...`."""
    root = nnunet_spine(tmp_path / "d", contrasts=("T1w", "T2w"))
    (root / "dataset.json").write_text(json.dumps({
        "modality": {"0": "T1w", "1": "T2w"}, "labels": {"0": "background", "1": "cord"},
        "training": [{"image": "./imagesTr/unf01.nii.gz", "label": "./labelsTr/unf01.nii.gz"}]}))
    case = read_msd_index(root).cases[0]
    assert [p.name for p in case.images] == ["unf01_0000.nii.gz", "unf01_0001.nii.gz"]


def test_bad_indexes_name_the_problem(tmp_path):
    root = msd_spleen(tmp_path / "d")
    (root / "labelsTr" / "spleen_2_crop.nii.gz").unlink()
    with pytest.raises(ReadError, match="spleen_2_crop.nii.gz: listed in .* but missing"):
        read_msd_index(root)
    (root / "dataset.json").write_text(json.dumps({"labels": {"background": 0, "tumour": [1, 2]}}))
    with pytest.raises(ReadError, match="region-based labels"):
        read_msd_index(root)


def test_label_that_does_not_fit_its_image_is_a_read_error(tmp_path):
    root = nnunet_spine(tmp_path / "d", contrasts=("T2w",))
    (root / "labelsTr" / "unf01.nii.gz").unlink()
    (root / "labelsTr" / "unf01.nii.gz").symlink_to(msd_spleen(tmp_path / "s") / "labelsTr" / "spleen_2_crop.nii.gz")
    with pytest.raises(ReadError, match="unf01.nii.gz: shape .* differs"):
        read_case(read_msd_index(root).cases[0], 2, 1)


def _cases(subjects):
    return tuple(Case(f"case{i:02d}", (Path(f"i{i}"),), Path(f"l{i}"), s) for i, s in enumerate(subjects))


def test_split_keeps_subjects_together_and_is_seeded():
    cases = _cases([f"s{i // 3}" for i in range(30)])  # 10 subjects, 3 scans each
    split = split_cases(cases, num_val=2, num_test=3, seed=7)
    subjects = {name: {c.subject for c in group} for name, group in split.items()}
    assert [len(subjects[k]) for k in ("train", "val", "test")] == [5, 2, 3]
    assert not (subjects["train"] & subjects["val"]) and not (subjects["train"] & subjects["test"])
    assert sum(len(g) for g in split.values()) == 30
    assert split == split_cases(cases, 2, 3, seed=7)
    assert split != split_cases(cases, 2, 3, seed=8)


def test_k_fold_test_splits_partition_the_subjects():
    cases = _cases([f"s{i}" for i in range(20)])  # seed 004: 20 volumes, 5 folds of 4
    tests = [split_cases(cases, 1, 0, seed=0, folds=5, fold=k) for k in range(5)]
    test_ids = [{c.case_id for c in t["test"]} for t in tests]
    assert [len(t) for t in test_ids] == [4] * 5
    assert set().union(*test_ids) == {c.case_id for c in cases}
    for split in tests:
        assert len(split["val"]) == 1 and len(split["train"]) == 15
        assert not {c.case_id for c in split["train"]} & {c.case_id for c in split["test"]}


def test_fold_keys_are_checked():
    with pytest.raises(ConfigError, match="'data.fold' = 5 must be below 'data.folds' = 5"):
        load_config("demo", ["data.folds=5", "data.fold=5", "data.num_test=0"])
    with pytest.raises(ConfigError, match="'data.num_test' = 3 must be 0"):
        load_config("demo", ["data.folds=5"])
    with pytest.raises(ConfigError, match="'data.folds' = 1 is invalid"):
        load_config("demo", ["data.folds=1"])


def test_dicom_series_with_a_dicom_seg_label(tmp_path):
    index = read_msd_index(dicom_liver(tmp_path / "d"))
    case = read_case(index.cases[0], 2, 1)
    assert case.case_id == "janct000"
    assert case.image.array.shape == (512, 512, 3, 1) and case.image.orientation == ("R", "A", "S")
    assert case.image.array.min() == -3024  # HU after the rescale intercept
    # The SEG's liver pixels per frame (SOURCE.md), now on the series' grid, inferior slice first.
    assert (case.label.array == 1).sum(axis=(0, 1)).tolist() == [36233, 35645, 35220]


def test_nrrd_pairs_and_their_anisotropic_geometry(tmp_path):
    index = read_msd_index(nrrd_radiomics(tmp_path / "d"))
    brain = read_case(index.cases[0], 2, 1)
    assert brain.image.array.shape == (256, 256, 25, 1) and int(brain.label.array.sum()) == 4137
    np.testing.assert_allclose(brain.image.spacing, (0.78125, 0.78125, 6.5), rtol=1e-4)
    breast = read_case(index.cases[1], 2, 1)
    assert breast.image.array.shape == (45, 120, 21, 1) and int(breast.label.array.sum()) == 143
