"""DICOM series that must fail clearly (naming the file and the problem), and enhanced multi-frame images."""

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import EnhancedCTImageStorage, EnhancedMRImageStorage

from jaxseg.io import MissingTagError, ReadError, SeriesSelectionError, read_dicom_series
from jaxseg.io.dicom_series import load_series
from tests.io_samples import make_slice, pydicom_data, sitk_volume, write_series


def _files(folder):
    return sorted(folder.iterdir())


def test_two_series_are_listed_and_one_is_picked(tmp_path):
    first, values, _ = write_series(tmp_path, count=4, series_uid="1.2.826.0.1.1")
    second, _, _ = write_series(tmp_path, count=3, origin=(0, 0, 0), series_uid="1.2.826.0.1.2")
    with pytest.raises(SeriesSelectionError, match="holds 2 image series") as caught:
        read_dicom_series(tmp_path)
    assert sorted((uid, count) for uid, _, _, count in caught.value.series) == [(first, 4), (second, 3)]
    assert "1.2.826.0.1.1 (CT, 'synthetic .1.1', 4 files)" in str(caught.value)
    volume, info = load_series(tmp_path, series_uid=first)
    assert volume.shape == (8, 6, 4) and info.series_uid == first and len(info.files) == 4
    np.testing.assert_array_equal(volume.array[..., 0], values[0].T.astype(np.int16) - 1024)


@pytest.mark.parametrize("keyword", ["ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "PixelData"])
def test_missing_tag_names_file_and_attribute(tmp_path, keyword):
    write_series(tmp_path, count=3)
    broken = _files(tmp_path)[1]
    ds = pydicom.dcmread(broken)
    delattr(ds, keyword)
    ds.save_as(broken)
    with pytest.raises(MissingTagError, match=f"{broken.name}: missing required DICOM attribute {keyword}") as caught:
        read_dicom_series(tmp_path)
    assert caught.value.keyword == keyword and caught.value.path == str(broken)


@pytest.mark.filterwarnings("ignore:Unknown encoding:UserWarning")
def test_truncated_and_corrupt_files(tmp_path):
    write_series(tmp_path / "truncated", count=3)
    victim = _files(tmp_path / "truncated")[2]
    victim.write_bytes(victim.read_bytes()[:-40])  # cut inside the pixel data
    with pytest.raises(ReadError, match=rf"{victim.name}: claims shape \(1, 6, 8, 1\) .* truncated or damaged"):
        read_dicom_series(tmp_path / "truncated")
    for cut in (200, 400):  # inside the file meta, inside the SOP Class UID
        victim.write_bytes(victim.read_bytes()[:cut])
        with pytest.raises(ReadError, match=f"{victim.name}: .*damaged"):
            read_dicom_series(tmp_path / "truncated")
    write_series(tmp_path / "corrupt", count=3)
    victim = _files(tmp_path / "corrupt")[0]
    victim.write_bytes(victim.read_bytes()[:132] + b"\x08\x00\x05\x00CS\xff\xffgarbage")
    with pytest.raises(ReadError, match=f"{victim.name}: .*damaged"):
        read_dicom_series(tmp_path / "corrupt")


def test_non_dicom_files_are_ignored_but_an_empty_folder_is_an_error(tmp_path):
    _, values, _ = write_series(tmp_path / "series", count=3)
    (tmp_path / "series" / "README.txt").write_text("exported by a PACS")
    assert read_dicom_series(tmp_path / "series").shape == (8, 6, 3)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("nothing here")
    with pytest.raises(ReadError, match=r"empty: no DICOM image files here \(1 file"):
        read_dicom_series(tmp_path / "empty")
    with pytest.raises(ReadError, match="nowhere: no such file or folder"):
        read_dicom_series(tmp_path / "nowhere")


def test_duplicate_positions_are_refused(tmp_path):
    write_series(tmp_path, count=3, series_uid="1.2.826.0.9")
    for file in _files(tmp_path):  # a second acquisition at the same positions, same series
        ds = pydicom.dcmread(file)
        ds.SOPInstanceUID = pydicom.uid.generate_uid()
        ds.save_as(file.with_name(file.name + "_echo2"))
    with pytest.raises(ReadError, match="repeat the position of another"):
        read_dicom_series(tmp_path)


def test_slices_that_do_not_stack_are_refused(tmp_path):
    write_series(tmp_path / "offline", count=4)
    moved = pydicom.dcmread(_files(tmp_path / "offline")[1])
    moved.ImagePositionPatient = [moved.ImagePositionPatient[0] + 2.0, *moved.ImagePositionPatient[1:]]
    moved.save_as(moved.filename)
    with pytest.raises(ReadError, match=f"slice positions do not lie on one line: {Path(moved.filename).name} is"):
        read_dicom_series(tmp_path / "offline")
    write_series(tmp_path / "sizes", count=3)
    small = make_slice(np.zeros((5, 8)), (-10.0, -20.0, 37.5), series_uid=pydicom.dcmread(
        _files(tmp_path / "sizes")[0]).SeriesInstanceUID, instance=9)
    small.save_as(tmp_path / "sizes" / "small.dcm", enforce_file_format=True)
    with pytest.raises(ReadError, match=r"frames differ in size: .* is \(6, 8\), small.dcm is \(5, 8\)"):
        read_dicom_series(tmp_path / "sizes")


def test_monochrome1_is_inverted_and_rescale_can_be_fractional(tmp_path):
    _, values, _ = write_series(tmp_path / "m1", count=3, photometric="MONOCHROME1", intercept=0.0)
    inverted = read_dicom_series(tmp_path / "m1")
    np.testing.assert_array_equal(inverted.array, 4095 - values.transpose(2, 1, 0))  # 12 bits stored
    _, values, _ = write_series(tmp_path / "pet", count=3, slope=0.25, intercept=-1.5)
    scaled = read_dicom_series(tmp_path / "pet")
    assert scaled.array.dtype == np.float32
    np.testing.assert_allclose(scaled.array, values.transpose(2, 1, 0) * 0.25 - 1.5)


def test_projection_radiograph_is_sent_to_read_dicom_image(tmp_path):
    ds = make_slice(np.zeros((4, 4)), (0, 0, 0), series_uid="1.2.3.9", instance=1, modality="CR")
    del ds.ImagePositionPatient
    ds.save_as(tmp_path / "cr.dcm", enforce_file_format=True)
    with pytest.raises(MissingTagError, match="projection radiographs.*read_dicom_image"):
        read_dicom_series(tmp_path)


# ---------------------------------------------------------------- enhanced multi-frame


def _enhanced(values, positions, orientation=(1, 0, 0, 0, 1, 0), spacing=(0.7, 0.8), intercepts=None,
              sop_class=EnhancedCTImageStorage) -> Dataset:
    """A multi-frame image with frames in the given order: shared orientation, spacing and rescale,
    per-frame positions (and rescale when `intercepts` is given)."""
    ds = make_slice(values[0], positions[0], series_uid="1.2.826.0.7", instance=1, orientation=orientation,
                    spacing=spacing)
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = sop_class
    for keyword in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "RescaleSlope",
                    "RescaleIntercept", "SliceThickness"):
        delattr(ds, keyword)
    ds.NumberOfFrames = len(values)
    shared = Dataset()
    shared.PlaneOrientationSequence = [Dataset()]
    shared.PlaneOrientationSequence[0].ImageOrientationPatient = list(orientation)
    shared.PixelMeasuresSequence = [Dataset()]
    shared.PixelMeasuresSequence[0].PixelSpacing = list(spacing)
    shared.PixelMeasuresSequence[0].SliceThickness = 2.5
    ds.SharedFunctionalGroupsSequence = [shared]
    frames = []
    for i, position in enumerate(positions):
        frame = Dataset()
        frame.PlanePositionSequence = [Dataset()]
        frame.PlanePositionSequence[0].ImagePositionPatient = [float(v) for v in position]
        frame.PixelValueTransformationSequence = [Dataset()]
        frame.PixelValueTransformationSequence[0].RescaleSlope = 1
        frame.PixelValueTransformationSequence[0].RescaleIntercept = -1024 if intercepts is None else intercepts[i]
        frames.append(frame)
    ds.PerFrameFunctionalGroupsSequence = frames
    ds.PixelData = np.asarray(values, np.uint16).tobytes()
    return ds


def test_enhanced_ct_equals_the_classic_series_of_the_same_frames(tmp_path):
    _, values, positions = write_series(tmp_path / "classic", count=5)
    classic = read_dicom_series(tmp_path / "classic")
    order = [3, 0, 4, 1, 2]  # frames stored out of position order
    _enhanced(values[order], positions[order]).save_as(tmp_path / "enhanced.dcm", enforce_file_format=True)
    enhanced = read_dicom_series(tmp_path / "enhanced.dcm")
    np.testing.assert_array_equal(enhanced.array, classic.array)
    np.testing.assert_allclose(enhanced.affine, classic.affine, atol=1e-9)
    # Per-frame rescale: each frame keeps its own intercept.
    _enhanced(values, positions, intercepts=[-1000, -1010, -1020, -1030, -1040]).save_as(
        tmp_path / "perframe.dcm", enforce_file_format=True)
    perframe = read_dicom_series(tmp_path / "perframe.dcm")
    np.testing.assert_array_equal(perframe.array[..., 4], values[4].T.astype(np.int16) - 1040)


def test_multiframe_without_positions_and_mixed_series_are_refused(tmp_path):
    _, values, positions = write_series(tmp_path / "mixed", count=3, series_uid="1.2.826.0.7")
    _enhanced(values, positions).save_as(tmp_path / "mixed" / "enhanced.dcm", enforce_file_format=True)
    with pytest.raises(ReadError, match="mixes 1 multi-frame file"):
        read_dicom_series(tmp_path / "mixed")
    ds = _enhanced(values, positions)
    del ds.PerFrameFunctionalGroupsSequence
    ds.save_as(tmp_path / "nopositions.dcm", enforce_file_format=True)
    with pytest.raises(MissingTagError, match="PerFrameFunctionalGroupsSequence"):
        read_dicom_series(tmp_path / "nopositions.dcm")


def test_real_enhanced_ct_from_pydicom_data_agrees_with_simpleitk():
    path = pydicom_data("eCT_Supplemental.dcm")
    ct = read_dicom_series(path)
    assert ct.shape == (512, 512, 2) and ct.array.min() == -1024  # shared RescaleIntercept -1024
    np.testing.assert_allclose(ct.spacing, (0.388672, 0.388672, 10.0), atol=1e-6)
    # Two frames 10 mm apart along the normal (0, 0, -1) of IOP (-1, 0, 0, 0, 1, 0): z = -149 then -159.
    np.testing.assert_allclose(ct.affine @ [0, 0, 1, 1], [-99.5, 301.5, -159.0, 1])
    theirs = sitk_volume(path).as_canonical()
    np.testing.assert_allclose(theirs.corners(), ct.as_canonical().corners(), atol=1e-4)
    np.testing.assert_array_equal(theirs.array, ct.as_canonical().array)


@pytest.mark.parametrize("name", ["emri_small_RLE.dcm", "emri_small_jpeg_ls_lossless.dcm",
                                  "emri_small_jpeg_2k_lossless.dcm"])
def test_compressed_multiframe_mr_decodes_like_the_uncompressed_file(tmp_path, name):
    """pydicom-data's 10-frame enhanced MR lacks plane positions; we add them to real pixel data."""
    volumes = []
    for source in ("emri_small.dcm", name):
        ds = pydicom.dcmread(pydicom_data(source))
        geometry = _enhanced(np.zeros((10, 64, 64)), [(0, 0, 3.0 * k) for k in range(10)],
                             sop_class=EnhancedMRImageStorage)
        ds.SharedFunctionalGroupsSequence = geometry.SharedFunctionalGroupsSequence
        ds.PerFrameFunctionalGroupsSequence = geometry.PerFrameFunctionalGroupsSequence
        ds.save_as(tmp_path / source)
        volumes.append(read_dicom_series(tmp_path / source))
    assert volumes[1].shape == (64, 64, 10)
    np.testing.assert_array_equal(volumes[1].array, volumes[0].array)
