"""`jaxseg predict` and `jaxseg evaluate` writing DICOM SEG predictions of DICOM series."""

from __future__ import annotations

import shutil

import numpy as np
import pydicom

from jaxseg.cli import main
from jaxseg.io import read_nifti
from jaxseg.io.dicom_seg import read_dicom_seg
from tests.test_train import _as_dicom_series


def test_predict_writes_a_seg_equal_to_the_nifti_prediction(tiny_run, phantom_root, tmp_path, capsys):
    image = sorted((phantom_root / "imagesTr").glob("*.nii.gz"))[0]
    series = _as_dicom_series(image, tmp_path / "series")
    assert main(["predict", "--checkpoint", str(tiny_run), str(series), str(tmp_path / "p.nii.gz")]) == 0
    assert main(["predict", "--checkpoint", str(tiny_run), str(series), str(tmp_path / "p.dcm")]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"wrote {tmp_path / 'p.dcm'}"
    nifti = read_nifti(tmp_path / "p.nii.gz")  # written on the series' grid (its affine, its axis order)
    seg = read_dicom_seg(tmp_path / "p.dcm", series)
    np.testing.assert_array_equal(seg.labels.array, nifti.array)
    assert (nifti.array > 0).sum() > 0  # segments with frames, not an empty SEG
    # The demo config names no classes (layout.class_names): generic names.
    assert seg.segments == {c: f"class_{c}" for c in (1, 2, 3, 4)}
    algorithm = pydicom.dcmread(tmp_path / "p.dcm").SegmentSequence[0].SegmentationAlgorithmIdentificationSequence[0]
    assert str(algorithm.AlgorithmParameters) == "checkpoint_step=2"
    assert main(["predict", "--checkpoint", str(tiny_run), "--format", "dicom-seg-fractional", str(series),
                 str(tmp_path / "f.dcm")]) == 0
    assert pydicom.dcmread(tmp_path / "f.dcm").SegmentationType == "FRACTIONAL"
    # A DICOM SEG needs a DICOM series as its source.
    assert main(["predict", "--checkpoint", str(tiny_run), "--format", "dicom-seg", str(image),
                 str(tmp_path / "x.dcm")]) == 2
    assert "a DICOM SEG is written for a DICOM series folder, to a .dcm file" in capsys.readouterr().err


def test_evaluate_writes_seg_predictions_of_dicom_folders(tiny_run, phantom_root, tmp_path):
    image = sorted((phantom_root / "imagesTr").glob("*.nii.gz"))[0]
    (tmp_path / "data").mkdir()
    case = _as_dicom_series(image, tmp_path / "data" / "patient01")
    shutil.copy(phantom_root / "labelsTr" / image.name, case / "label.nii.gz")
    common = ["evaluate", "--workdir", str(tiny_run), "--data", str(tmp_path / "data"),
              "--config.data.source=dicom_folders"]
    assert main([*common, "--out", str(tmp_path / "nifti")]) == 0
    assert main([*common, "--out", str(tmp_path / "seg"), "--format", "dicom-seg"]) == 0
    nifti = read_nifti(tmp_path / "nifti" / "predictions" / "patient01.nii.gz")
    seg = read_dicom_seg(tmp_path / "seg" / "predictions" / "patient01.dcm", case)
    np.testing.assert_array_equal(seg.labels.reoriented_like(nifti.affine, nifti.shape).array, nifti.array)
