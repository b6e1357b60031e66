import json

import nibabel as nib
import numpy as np
import pytest

from jaxseg.data.synthetic import LABELS, make_phantom, write_phantom_dataset


def test_phantom_is_deterministic():
    a_image, a_label = make_phantom(3, shape=(32, 32, 16), spacing_mm=(12, 12, 16), seed=7)
    b_image, b_label = make_phantom(3, shape=(32, 32, 16), spacing_mm=(12, 12, 16), seed=7)
    np.testing.assert_array_equal(a_image.array, b_image.array)
    np.testing.assert_array_equal(a_label.array, b_label.array)
    np.testing.assert_array_equal(a_image.affine, b_image.affine)


def test_cases_and_seeds_differ():
    base = make_phantom(0, shape=(32, 32, 16), seed=0)[1].array
    assert not np.array_equal(base, make_phantom(1, shape=(32, 32, 16), seed=0)[1].array)
    assert not np.array_equal(base, make_phantom(0, shape=(32, 32, 16), seed=1)[1].array)


def test_phantom_anatomy_and_hounsfield_units():
    image, label = make_phantom(0)
    canonical_image, canonical_label = image.as_canonical(), label.as_canonical()
    hu, labels = canonical_image.array, canonical_label.array
    assert image.array.dtype == np.int16 and label.array.dtype == np.uint8
    assert set(np.unique(labels)) == set(LABELS)
    assert hu.min() <= -900  # air around the torso
    assert 300 < np.median(hu[labels == 4]) < 700  # spine is bone
    assert 30 < np.median(hu[labels == 1]) < 110  # liver is soft tissue
    # The liver lies on the patient's right (+x in RAS), the spleen on the left.
    x_world = lambda mask: (canonical_label.affine @ np.c_[np.argwhere(mask), np.ones(mask.sum())].T)[0].mean()  # noqa: E731
    assert x_world(labels == 1) > 0 > x_world(labels == 2)


def test_phantom_is_stored_lps_with_matching_affine():
    image, label = make_phantom(0, shape=(32, 32, 16), spacing_mm=(12.0, 12.0, 16.0))
    assert image.orientation == ("L", "P", "S")
    assert image.spacing == (12.0, 12.0, 16.0)
    np.testing.assert_array_equal(image.affine, label.affine)


def test_dataset_layout(tmp_path):
    root = write_phantom_dataset(tmp_path / "ph", num_cases=2, shape=(32, 32, 16), spacing_mm=(12, 12, 16), seed=0)
    description = json.loads((root / "dataset.json").read_text())
    assert description["numTraining"] == 2
    assert description["labels"] == {"0": "background", "1": "liver", "2": "spleen", "3": "kidney", "4": "spine"}
    entry = description["training"][1]
    assert entry == {"image": "./imagesTr/phantom_001.nii.gz", "label": "./labelsTr/phantom_001.nii.gz"}
    stored = nib.load(root / entry["image"])
    expected_image, _ = make_phantom(1, shape=(32, 32, 16), spacing_mm=(12, 12, 16), seed=0)
    np.testing.assert_array_equal(np.asanyarray(stored.dataobj), expected_image.array)
    np.testing.assert_allclose(stored.affine, expected_image.affine)
    assert [p.name for p in tmp_path.iterdir()] == ["ph"]  # no staging folder left behind


def test_dataset_is_reused_and_guarded(tmp_path):
    kwargs = dict(num_cases=1, shape=(32, 32, 16), spacing_mm=(12, 12, 16), seed=0)
    root = write_phantom_dataset(tmp_path / "ph", **kwargs)
    stamp = (root / "imagesTr" / "phantom_000.nii.gz").stat().st_mtime_ns
    write_phantom_dataset(tmp_path / "ph", **kwargs)
    assert (root / "imagesTr" / "phantom_000.nii.gz").stat().st_mtime_ns == stamp
    with pytest.raises(FileExistsError, match="holds a different dataset"):
        write_phantom_dataset(tmp_path / "ph", **{**kwargs, "seed": 1})
