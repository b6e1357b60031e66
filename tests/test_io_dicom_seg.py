"""DICOM SEG -> label map on the reference grid, checked against the NIfTI and NRRD labels made from it."""

import copy

import numpy as np
import pydicom
import pytest

from jaxseg.io import (
    GeometryMismatchError,
    ReadError,
    Volume,
    check_same_grid,
    read_dicom_seg,
    read_dicom_series,
    read_nifti,
    read_nrrd,
)
from tests.io_samples import PYDICOM_FILES, shared

LIVER_PIXELS_PER_SLICE = [36233, 35645, 35220]  # z = -128.69, -127.69, -126.69 (SOURCE.md)


@pytest.fixture(scope="module")
def dcmqi():
    return shared("dicom_ct_liver_seg_dcmqi")


def test_seg_on_ct_folder_equals_nifti_and_nrrd_liver_labels(dcmqi):
    seg = read_dicom_seg(dcmqi / "seg" / "liver.dcm", dcmqi / "ct")
    assert seg.segments == {1: "Liver"} and seg.labels.array.dtype == np.uint8
    assert [int(seg.labels.array[..., k].sum()) for k in range(3)] == LIVER_PIXELS_PER_SLICE
    nifti, nrrd = read_nifti(dcmqi / "nifti" / "liver.nii.gz"), read_nrrd(dcmqi / "labels_nrrd" / "liver_seg.nrrd")
    for reference in (nifti, nrrd):
        check_same_grid(reference.as_canonical(), seg.labels.as_canonical())
        np.testing.assert_array_equal(reference.as_canonical().array, seg.labels.as_canonical().array)
    # On the CT grid itself: same voxels as the series read from the folder.
    check_same_grid(read_dicom_series(dcmqi / "ct"), seg.labels)


def test_seg_on_a_reoriented_reference_volume(dcmqi):
    ct = read_dicom_series(dcmqi / "ct").as_canonical()
    seg = read_dicom_seg(dcmqi / "seg" / "liver.dcm", ct)
    check_same_grid(ct, seg.labels)
    liver = read_nifti(dcmqi / "nifti" / "liver.nii.gz").as_canonical()
    np.testing.assert_array_equal(seg.labels.array, liver.array)
    assert 0 < ct.array[seg.labels.array == 1].mean() < 150  # liver HU


def test_seg_on_its_own_frame_grid(dcmqi):
    own = read_dicom_seg(dcmqi / "seg" / "liver.dcm")
    on_ct = read_dicom_seg(dcmqi / "seg" / "liver.dcm", dcmqi / "ct")
    check_same_grid(on_ct.labels, own.labels)
    np.testing.assert_array_equal(own.labels.array, on_ct.labels.array)


def test_pydicom_one_frame_seg_lands_on_its_slice(dcmqi):
    for name in ("liver_1frame.dcm", "liver_expb_1frame.dcm"):  # little- and big-endian copies
        seg = read_dicom_seg(PYDICOM_FILES / name, dcmqi / "ct")
        assert [int(seg.labels.array[..., k].sum()) for k in range(3)] == [LIVER_PIXELS_PER_SLICE[0], 0, 0]


def test_seg_off_the_reference_grid_is_a_geometry_error(dcmqi):
    ct = read_dicom_series(dcmqi / "ct")
    shift = np.eye(4)
    shift[0, 3] = 0.3  # voxels
    shifted = Volume(ct.array, ct.affine @ shift, "shifted")
    with pytest.raises(GeometryMismatchError, match="liver.dcm: frame 1 does not lie on the voxels of shifted"):
        read_dicom_seg(dcmqi / "seg" / "liver.dcm", shifted)
    cropped = Volume(ct.array[..., :2], ct.affine, "two slices")
    with pytest.raises(GeometryMismatchError, match="lies partly outside two slices"):
        read_dicom_seg(dcmqi / "seg" / "liver.dcm", cropped)


def test_seg_of_another_frame_of_reference_is_refused(dcmqi, tmp_path):
    ds = pydicom.dcmread(dcmqi / "seg" / "liver.dcm")
    ds.FrameOfReferenceUID = "1.2.3.4.5"
    ds.save_as(tmp_path / "other.dcm")
    with pytest.raises(GeometryMismatchError, match="FrameOfReferenceUID 1.2.3.4.5 differs"):
        read_dicom_seg(tmp_path / "other.dcm", dcmqi / "ct")


def test_overlapping_segments_are_refused(dcmqi, tmp_path):
    ds = pydicom.dcmread(dcmqi / "seg" / "liver.dcm")
    second = copy.deepcopy(ds.SegmentSequence[0])
    second.SegmentNumber, second.SegmentLabel = 2, "Liver again"
    ds.SegmentSequence.append(second)
    frames = [copy.deepcopy(f) for f in ds.PerFrameFunctionalGroupsSequence]
    for frame in frames:
        frame.SegmentIdentificationSequence[0].ReferencedSegmentNumber = 2
    ds.PerFrameFunctionalGroupsSequence.extend(frames)
    ds.NumberOfFrames = 6
    ds.PixelData = ds.PixelData * 2  # 512 x 512 bits per frame: whole bytes, so frames concatenate
    ds.save_as(tmp_path / "twice.dcm")
    with pytest.raises(ReadError, match=r"segments overlap.*'Liver' \(1\) and 'Liver again' \(2\): 107098 voxels"):
        read_dicom_seg(tmp_path / "twice.dcm", dcmqi / "ct")


def test_fractional_seg_counts_half_or_more_as_inside(dcmqi, tmp_path):
    ds = pydicom.dcmread(dcmqi / "seg" / "liver.dcm")
    binary = ds.pixel_array.astype(bool)
    values = np.where(binary, 200, 0).astype(np.uint8)
    values[:, :256] = np.where(binary[:, :256], 100, 0)  # below half of 255: outside
    ds.SegmentationType, ds.SegmentationFractionalType, ds.MaximumFractionalValue = "FRACTIONAL", "PROBABILITY", 255
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    ds.PixelData = values.tobytes()
    ds.save_as(tmp_path / "fractional.dcm")
    seg = read_dicom_seg(tmp_path / "fractional.dcm", dcmqi / "ct")
    expected = binary.copy()
    expected[:, :256] = False
    np.testing.assert_array_equal(seg.labels.array, expected.transpose(2, 1, 0))


def test_a_ct_slice_is_not_a_seg(dcmqi):
    with pytest.raises(ReadError, match="01.dcm: not a DICOM SEG"):
        read_dicom_seg(dcmqi / "ct" / "01.dcm", dcmqi / "ct")
