"""`describe()` and `jaxseg inspect` on DICOM folders, DICOM SEG, NRRD and 2D images."""

import json
import subprocess
import sys

import numpy as np
import pytest

from jaxseg.io import ReadError, describe, format_description, write_mask
from tests.io_samples import PYDICOM_FILES, shared, write_series

VOLUME_KEYS = {"path", "format", "shape", "dtype", "spacing", "affine", "orientation", "intensity_range"}


def _inspect(*args):
    return subprocess.run([sys.executable, "-m", "jaxseg", "inspect", *map(str, args)], capture_output=True,
                          text=True, timeout=120)


def test_describe_dicom_series_folder_and_cli_json():
    folder = shared("totalseg_example_ct", "dicom_ct")
    info = describe(folder)
    assert VOLUME_KEYS | {"modality", "series_uid", "num_files"} <= set(info)
    assert info["format"] == "dicom-series" and info["modality"] == "CT" and info["num_files"] == 20
    assert info["shape"] == [512, 512, 20] and info["dtype"] == "uint16" and info["orientation"] == "LPS"
    assert info["intensity_range"][0] == -1024.0  # in HU
    result = _inspect(folder, "--json")
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert printed["num_files"] == 20
    np.testing.assert_allclose(printed["affine"], info["affine"])


def test_describe_seg_nrrd_and_2d_image():
    seg = describe(shared("dicom_ct_liver_seg_dcmqi", "seg", "liver.dcm"))
    assert seg["format"] == "dicom-seg" and seg["modality"] == "SEG" and seg["segments"] == {"1": "Liver"}
    assert seg["shape"] == [512, 512, 3] and seg["intensity_range"] == [0.0, 1.0]
    nrrd = describe(shared("pyradiomics_testcases", "nrrd", "brain1_image.nrrd"))
    assert nrrd["format"] == "nrrd" and nrrd["orientation"] == "LAS" and nrrd["dtype"] == "int16"
    image = describe(shared("cxr_lung_covid_hannover", "images", "2168a917.jpg"))
    assert VOLUME_KEYS <= set(image) and image["format"] == "jpeg"
    assert image["shape"] == [2000, 2000] and image["affine"] is None and image["spacing"] is None
    assert "2D image" in format_description(image) and "segments     1: Liver" in format_description(seg)


def test_describe_single_dicom_image_and_nifti_codes():
    ct = describe(PYDICOM_FILES / "CT_small.dcm")
    assert ct["format"] == "dicom" and ct["modality"] == "CT" and ct["num_files"] == 1
    assert ct["shape"] == [128, 128] and ct["spacing"] == [0.661468, 0.661468]
    nifti = describe(shared("totalseg_example_ct", "example_seg_dicom.nii.gz"))
    assert (nifti["qform_code"], nifti["sform_code"]) == (0, 2)


def test_cli_errors_are_one_line_without_traceback(tmp_path):
    write_series(tmp_path / "two", count=2, series_uid="1.2.826.0.5.1")
    write_series(tmp_path / "two", count=2, series_uid="1.2.826.0.5.2", origin=(0, 0, 0))
    result = _inspect(tmp_path / "two")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "holds 2 image series" in result.stderr and "1.2.826.0.5.2" in result.stderr
    write_mask(np.eye(3, dtype=np.uint8), tmp_path / "mask.png")
    printed = _inspect(tmp_path / "mask.png")
    assert printed.returncode == 0 and "(png)" in printed.stdout
    with pytest.raises(ReadError, match="nothing.dcm: no such file or folder"):
        describe(tmp_path / "nothing.dcm")
