import json
import subprocess
import sys

import nibabel as nib
import numpy as np
import pytest

from jaxseg.io import ReadError, Volume, describe, read_nifti, write_nifti

OBLIQUE = np.array([
    [0.0, -0.9, 0.1, 30.0],
    [-1.2, 0.0, 0.0, 40.0],
    [0.0, 0.05, 2.5, -50.0],
    [0.0, 0.0, 0.0, 1.0],
])


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
@pytest.mark.parametrize("dtype", [np.int16, np.uint8, np.float32])
def test_round_trip_keeps_values_dtype_and_affine(tmp_path, suffix, dtype):
    array = (np.arange(4 * 5 * 6).reshape(4, 5, 6) % 97).astype(dtype)
    path = write_nifti(Volume(array, OBLIQUE), tmp_path / f"v{suffix}")
    back = read_nifti(path)
    assert back.array.dtype == dtype
    np.testing.assert_array_equal(back.array, array)
    np.testing.assert_allclose(back.affine, OBLIQUE, atol=1e-6)
    header = nib.load(path).header
    assert int(header["sform_code"]) == 1 and int(header["qform_code"]) == 1
    assert header.get_xyzt_units()[0] == "mm"


def test_write_leaves_no_partial_file(tmp_path):
    with pytest.raises(Exception):
        write_nifti(Volume(np.zeros((2, 2, 2), dtype=object), np.eye(4)), tmp_path / "bad.nii.gz")
    assert list(tmp_path.iterdir()) == []


def test_spacing_and_orientation_from_the_affine():
    volume = Volume(np.zeros((4, 5, 6)), OBLIQUE)
    np.testing.assert_allclose(volume.spacing, [1.2, np.hypot(0.9, 0.05), np.hypot(0.1, 2.5)])
    assert volume.orientation == ("P", "L", "S")
    assert volume.plane_axis("axial") == 2
    assert volume.plane_axis("sagittal") == 1
    assert volume.plane_axis("coronal") == 0


def test_canonical_matches_nibabel_and_keeps_world_positions():
    array = np.random.default_rng(0).normal(size=(4, 5, 6)).astype(np.float32)
    volume = Volume(array, OBLIQUE)
    canonical = volume.as_canonical()
    reference = nib.as_closest_canonical(nib.Nifti1Image(array, OBLIQUE))
    np.testing.assert_array_equal(canonical.array, np.asanyarray(reference.dataobj))
    np.testing.assert_allclose(canonical.affine, reference.affine)
    assert canonical.orientation == ("R", "A", "S")
    # The voxel with the largest value sits at the same world point in both.
    world = lambda v: v.affine @ np.r_[np.unravel_index(v.array.argmax(), v.array.shape), 1]  # noqa: E731
    np.testing.assert_allclose(world(canonical), world(volume))


def test_read_errors_name_the_file(tmp_path):
    with pytest.raises(ReadError, match="missing.nii.gz: no such file"):
        read_nifti(tmp_path / "missing.nii.gz")
    broken = tmp_path / "broken.nii.gz"
    broken.write_bytes(b"\x1f\x8b" + b"not really gzip")
    with pytest.raises(ReadError, match="broken.nii.gz: not a readable NIfTI"):
        read_nifti(broken)
    good = write_nifti(Volume(np.ones((8, 8, 8), np.float32), np.eye(4)), tmp_path / "good.nii")
    truncated = tmp_path / "truncated.nii"
    truncated.write_bytes(good.read_bytes()[:600])
    with pytest.raises(ReadError, match="truncated.nii"):
        read_nifti(truncated)
    flat = write_nifti(Volume(np.ones((8, 8, 1), np.float32), np.eye(4)), tmp_path / "flat.nii")
    nib.save(nib.Nifti1Image(np.ones((8, 8), np.float32), np.eye(4)), flat)
    with pytest.raises(ReadError, match="flat.nii: is 2D"):
        read_nifti(flat)


def test_describe_and_cli_inspect_json(tmp_path):
    array = np.arange(60, dtype=np.int16).reshape(3, 4, 5) - 10
    path = write_nifti(Volume(array, OBLIQUE), tmp_path / "ct.nii.gz")
    info = describe(path)
    assert info["shape"] == [3, 4, 5] and info["dtype"] == "int16"
    assert info["orientation"] == "PLS"
    assert info["intensity_range"] == [-10.0, 49.0]
    result = subprocess.run([sys.executable, "-m", "jaxseg", "inspect", str(path), "--json"],
                            capture_output=True, text=True, timeout=60, check=True)
    printed = json.loads(result.stdout)
    np.testing.assert_allclose(printed["affine"], nib.load(path).affine)
    assert {"shape", "dtype", "spacing", "affine", "orientation"} <= set(printed)


def test_cli_inspect_bad_file_is_a_clear_error(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    result = subprocess.run([sys.executable, "-m", "jaxseg", "inspect", str(path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "notes.txt: unsupported file type" in result.stderr and "Traceback" not in result.stderr
