"""DICOM SEG predictions: written by jaxseg.io.dicom_seg_write, read back by jaxseg, highdicom and pydicom."""

from __future__ import annotations

import json

import highdicom as hd
import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid

import jaxseg
from jaxseg.io import GeometryMismatchError, ReadError, read_dicom_series, read_nifti
from jaxseg.io.dicom_seg import read_dicom_seg
from jaxseg.io.dicom_seg_write import write_dicom_seg
from jaxseg.io.volume import Volume
from jaxseg.predict import output_format
from tests.io_samples import pydicom_data, shared, write_series

NAMES = {0: "background", 1: "liver", 2: "aorta", 3: "lesion core"}


def _series(tmp_path, orientation=(0, 1, 0, 0, 0, -1)):
    """A sagittal 5-slice series whose source headers carry patient data the SEG must not copy."""
    folder = tmp_path / "ct"
    write_series(folder, count=5, shape=(6, 8), orientation=orientation)
    for file in folder.iterdir():
        ds = pydicom.dcmread(file)
        ds.PatientName, ds.PatientID, ds.PatientAge, ds.PatientWeight = "Doe^Jane", "P01", "042Y", 61.5
        ds.InstitutionName, ds.StudyDescription = "General Hospital", "abdomen"
        ds.save_as(file, enforce_file_format=True)
    return folder


def _assert_source_frames(seg: hd.seg.Segmentation, series, expected: np.ndarray, source: Volume) -> None:
    """highdicom's label map of every source instance equals `expected` ((column, row, slice) on the
    series' grid `source`) on that instance's slice."""
    headers = [pydicom.dcmread(f, stop_before_pixels=True) for f in sorted(series.iterdir())]
    uids = [ds.SOPInstanceUID or ds.file_meta.MediaStorageSOPInstanceUID for ds in headers]  # blanked by anonymiser
    pixels = seg.get_pixels_by_source_instance(uids, combine_segments=True,
                                               skip_overlap_checks=True)
    for ds, frame in zip(headers, pixels):
        # the slice of the series' grid at this file's position (LPS -> RAS)
        ras = np.array(ds.ImagePositionPatient, float) * [-1, -1, 1]
        k = int(round(np.linalg.solve(source.affine, np.append(ras, 1))[2]))
        np.testing.assert_array_equal(frame, expected[:, :, k].T)


def test_binary_seg_round_trip_on_a_generated_series(tmp_path):
    folder = _series(tmp_path)
    source = read_dicom_series(folder)
    grid = source.as_canonical()  # Predictions are made on the canonical grid.
    labels = np.random.default_rng(0).integers(0, 4, grid.shape).astype(np.uint8)
    labels[..., 0] = 0  # an empty slice: its frames are left out, and it still reads back as background
    path = write_dicom_seg(Volume(labels, grid.affine), folder, tmp_path / "pred.dcm", NAMES, step=17)
    on_series = Volume(labels, grid.affine).reoriented_like(source.affine, source.shape).array

    back = read_dicom_seg(path, folder)
    np.testing.assert_array_equal(back.labels.array, on_series)
    np.testing.assert_allclose(back.labels.affine, source.affine)
    assert back.segments == {1: "liver", 2: "aorta", 3: "lesion core"}

    seg = hd.seg.segread(path)  # highdicom parses and checks the SEG IOD on read
    _assert_source_frames(seg, folder, on_series, source)

    ds = pydicom.dcmread(path)
    first = pydicom.dcmread(next(folder.iterdir()))
    assert (ds.Modality, ds.SegmentationType, ds.SOPClassUID) == ("SEG", "BINARY", "1.2.840.10008.5.1.4.1.1.66.4")
    assert ds.StudyInstanceUID == first.StudyInstanceUID and ds.FrameOfReferenceUID == first.FrameOfReferenceUID
    assert ds.ReferencedSeriesSequence[0].SeriesInstanceUID == first.SeriesInstanceUID
    referenced = {item.ReferencedSOPInstanceUID for item in ds.ReferencedSeriesSequence[0].ReferencedInstanceSequence}
    assert referenced == {pydicom.dcmread(f).SOPInstanceUID for f in folder.iterdir()}
    assert ds.SeriesInstanceUID != first.SeriesInstanceUID
    assert int(ds.NumberOfFrames) == sum(int((on_series[..., k] == c).any()) for k in range(5) for c in (1, 2, 3))
    types = [item.SegmentedPropertyTypeCodeSequence[0].CodeMeaning for item in ds.SegmentSequence]
    assert types == ["Liver", "Aorta", "Tissue"]
    algorithm = ds.SegmentSequence[0].SegmentationAlgorithmIdentificationSequence[0]
    assert (algorithm.AlgorithmName, algorithm.AlgorithmVersion) == ("jaxseg", jaxseg.__version__)
    assert str(algorithm.AlgorithmParameters) == "checkpoint_step=17"
    # The patient and study identification the IOD requires, and no other patient data.
    assert (str(ds.PatientName), ds.PatientID) == ("Doe^Jane", "P01")
    for keyword in ("PatientAge", "PatientWeight", "InstitutionName", "StudyDescription"):
        assert keyword not in ds


def test_fractional_seg_holds_the_probabilities(tmp_path):
    folder = _series(tmp_path, orientation=(1, 0, 0, 0, 1, 0))
    source = read_dicom_series(folder)
    probabilities = np.random.default_rng(1).dirichlet(np.ones(3), source.shape).astype(np.float32)
    labels = probabilities.argmax(-1).astype(np.uint8)
    path = write_dicom_seg(Volume(labels, source.affine), folder, tmp_path / "p.dcm", {1: "liver", 2: "spleen"},
                           probabilities=probabilities)
    seg = hd.seg.segread(path)
    assert (seg.SegmentationType, seg.SegmentationFractionalType, seg.MaximumFractionalValue) == (
        "FRACTIONAL", "PROBABILITY", 255)
    files = sorted(folder.iterdir(), key=lambda f: float(pydicom.dcmread(f).ImagePositionPatient[2]))
    pixels = seg.get_pixels_by_source_instance([pydicom.dcmread(f).SOPInstanceUID for f in files],
                                               rescale_fractional=False)
    expected = np.round(probabilities[..., 1:] * 255).transpose(2, 1, 0, 3)
    np.testing.assert_array_equal(pixels, expected)


def test_a_prediction_off_the_series_grid_is_refused(tmp_path):
    folder = _series(tmp_path)
    source = read_dicom_series(folder)
    shifted = source.affine.copy()
    shifted[:3, 3] += 0.3
    with pytest.raises(GeometryMismatchError, match="does not lie on the voxels"):
        write_dicom_seg(Volume(np.zeros(source.shape, np.uint8), shifted), folder, tmp_path / "x.dcm", NAMES)
    assert not (tmp_path / "x.dcm").exists()


def test_output_format_follows_the_output_ending(tmp_path):
    (tmp_path / "series").mkdir()
    assert output_format(tmp_path / "series", "out.dcm") == "dicom-seg"
    assert output_format(tmp_path / "series", "out.nii.gz") == "label-map"
    assert output_format(tmp_path / "series", "out.dcm", "dicom-seg-fractional") == "dicom-seg-fractional"
    with pytest.raises(ValueError, match="a DICOM SEG is written for a DICOM series folder, to a .dcm file"):
        output_format("image.nii.gz", "out.dcm", "dicom-seg")
    with pytest.raises(ValueError, match="a DICOM SEG is written for a DICOM series folder, to a .dcm file"):
        output_format(tmp_path / "series", "out.nii.gz", "dicom-seg")


def _round_trip(series, labels: Volume, names, tmp_path):
    path = write_dicom_seg(labels, series, tmp_path / "seg.dcm", names, step=3)
    source = read_dicom_series(series)
    expected = labels.reoriented_like(source.affine, source.shape).array
    back = read_dicom_seg(path, source)
    np.testing.assert_array_equal(back.labels.array, expected)
    _assert_source_frames(hd.seg.segread(path), series, expected, source)
    return expected


@pytest.mark.slow  # 31 organs of a JPEG 2000 series: 7-19 s; the dcmqi and generated round trips stay default
def test_round_trip_on_the_totalsegmentator_j2k_series(tmp_path):
    """31 organs of TotalSegmentator's label map of its JPEG 2000 CT series, through a SEG and back.
    The series was anonymised with blank Study and Series Instance UIDs, which a SEG cannot reference:
    refused with the file named; its copy with UIDs (pixels still JPEG 2000) is written."""
    original = shared("totalseg_example_ct", "dicom_ct")
    labels = Volume(np.zeros((512, 512, 20), np.uint8), np.eye(4))
    with pytest.raises(ReadError, match="blank StudyInstanceUID, SeriesInstanceUID .* cannot reference it"):
        write_dicom_seg(labels, original, tmp_path / "refused.dcm", {})
    series = tmp_path / "ct"
    series.mkdir()
    study, series_uid = generate_uid(), generate_uid()
    for file in original.iterdir():
        ds = pydicom.dcmread(file)
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series_uid
        ds.save_as(series / file.name)
    assert str(pydicom.dcmread(series / file.name).file_meta.TransferSyntaxUID) == "1.2.840.10008.1.2.4.90"
    labels = read_nifti(shared("totalseg_example_ct", "example_seg_dicom.nii.gz"))
    names = {int(k): v for k, v in json.loads(shared("totalseg_example_ct", "labels.json").read_text())
             ["label_map_total_v2"].items()}
    expected = _round_trip(series, Volume(labels.array.astype(np.uint8), labels.affine), names, tmp_path)
    assert len(np.unique(expected)) == 32


def test_round_trip_on_the_dcmqi_ct_series(tmp_path):
    """dcmqi's liver SEG read onto its CT series, written again by jaxseg, read back equal."""
    series = shared("dicom_ct_liver_seg_dcmqi", "ct")
    liver = read_dicom_seg(shared("dicom_ct_liver_seg_dcmqi", "seg", "liver.dcm"), series)
    expected = _round_trip(series, liver.labels.as_canonical(), {1: "liver"}, tmp_path)
    assert int((expected == 1).sum()) == int((liver.labels.array == 1).sum()) > 0


def test_round_trip_on_an_enhanced_multiframe_ct(tmp_path):
    """One multi-frame source file: the SEG's frames follow its frames' functional groups."""
    path = pydicom_data("eCT_Supplemental.dcm")
    source = read_dicom_series(path)
    grid = source.as_canonical()
    labels = np.random.default_rng(2).integers(0, 3, grid.shape).astype(np.uint8)
    written = write_dicom_seg(Volume(labels, grid.affine), path, tmp_path / "seg.dcm", {1: "liver", 2: "aorta"})
    back = read_dicom_seg(written, path)
    np.testing.assert_array_equal(back.labels.array,
                                  Volume(labels, grid.affine).reoriented_like(source.affine, source.shape).array)
    seg = hd.seg.segread(written)
    assert (int(seg.NumberOfFrames), len(seg.SegmentSequence)) == (4, 2)  # 2 frames x 2 segments, none empty
    assert seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence[0].ReferencedSOPInstanceUID == \
        pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID
