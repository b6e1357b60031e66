"""DICOM series: real samples (shared data, pydicom's and nibabel's own files) and synthetic edge cases."""

import numpy as np
import pydicom
import pytest

from jaxseg.io import (
    MissingTagError,
    ReadError,
    SeriesSelectionError,
    SliceSpacingError,
    check_same_grid,
    read_dicom_series,
    read_nifti,
)
from jaxseg.io.dicom_series import load_series
from tests.io_samples import (
    NIBABEL_FILES,
    NIBABEL_NICOM_FILES,
    PYDICOM_FILES,
    expected_affine,
    shared,
    sitk_series_files,
    sitk_volume,
    write_series,
)

# ---------------------------------------------------------------- real series from ../shared/data


def test_totalsegmentator_jpeg2000_series_in_hu_on_the_label_map_grid():
    folder = shared("totalseg_example_ct", "dicom_ct")
    ct, info = load_series(folder)
    assert ct.shape == (512, 512, 20) and ct.array.dtype == np.int16
    assert info.modality == "CT" and len(info.files) == 20
    assert ct.array.min() == -1024  # RescaleIntercept -1024 applied: air outside the scanner field
    np.testing.assert_allclose(ct.spacing, (0.9765625, 0.9765625, 2.0))
    labels = read_nifti(shared("totalseg_example_ct", "example_seg_dicom.nii.gz"))
    # Same world position for every voxel corner, once both are put in RAS axis order.
    check_same_grid(labels.as_canonical(), ct.as_canonical(), atol_mm=1e-3)
    hu, label = ct.as_canonical().array, labels.as_canonical().array
    # The voxels line up too: organs have soft-tissue HU, the aorta is contrast-filled, bone is dense.
    assert 40 < hu[label == 5].mean() < 150  # liver
    assert 40 < hu[label == 1].mean() < 150  # spleen
    assert hu[label == 52].mean() > 150  # aorta
    assert hu[np.isin(label, [32, 33])].mean() > 200  # vertebrae T11, T12
    assert hu[label == 0].mean() < -300


def test_dcmqi_ct_series_geometry_and_hu():
    folder = shared("dicom_ct_liver_seg_dcmqi", "ct")
    ct = read_dicom_series(folder)
    assert ct.shape == (512, 512, 3) and ct.orientation == ("L", "P", "S")
    assert (int(ct.array.min()), int(ct.array.max())) == (-3024, 1381)
    np.testing.assert_allclose(ct.affine[:3, 3], [235.2, 226.8, -128.690002], atol=1e-4)  # LPS (-235.2, -226.8)
    reference = read_nifti(shared("dicom_ct_liver_seg_dcmqi", "nifti", "ct.nii.gz"))
    check_same_grid(reference.as_canonical(), ct.as_canonical())
    np.testing.assert_array_equal(reference.as_canonical().array, ct.as_canonical().array)


def test_oblique_pgbm_series_affine():
    folder = shared("dicom_mr_series_tcia_pgbm005", "series")
    mr = read_dicom_series(folder)
    assert mr.shape == (260, 320, 24) and mr.array.dtype == np.uint16
    np.testing.assert_allclose(mr.spacing, (0.6875, 0.6875, 6.5), atol=1e-4)
    first = pydicom.dcmread(folder / "000000.dcm", stop_before_pixels=True)
    iop = np.array(first.ImageOrientationPatient, float)
    # Columns of the affine: the row and column directions (LPS -> RAS), then 6.5 mm along the normal.
    np.testing.assert_allclose(mr.affine[:3, 0], [-1, -1, 1] * iop[:3] * 0.6875, atol=1e-9)
    np.testing.assert_allclose(mr.affine[:3, 1], [-1, -1, 1] * iop[3:] * 0.6875, atol=1e-9)
    normal = np.cross(iop[:3], iop[3:])
    np.testing.assert_allclose(mr.affine[:3, 2], [-1, -1, 1] * normal * 6.5, atol=1e-3)
    tilt = np.degrees(np.arccos(mr.affine[2, 2] / 6.5))
    assert 10.5 < tilt < 11.5
    # Slice k = 0 is the most inferior one; its first pixel is where its ImagePositionPatient says.
    positions = {f.name: np.array(pydicom.dcmread(f, stop_before_pixels=True).ImagePositionPatient, float)
                 for f in folder.iterdir()}
    lowest = min(positions.values(), key=lambda p: p @ normal)
    np.testing.assert_allclose(mr.affine[:3, 3], [-1, -1, 1] * lowest, atol=1e-6)
    assert mr.plane_axis("axial") == 2 and mr.plane_axis("coronal") == 1


@pytest.mark.parametrize("folder", [("totalseg_example_ct", "dicom_ct"), ("dicom_ct_liver_seg_dcmqi", "ct"),
                                    ("dicom_mr_series_tcia_pgbm005", "series")])
def test_simpleitk_agrees_on_real_series(folder):
    path = shared(*folder)
    ours = read_dicom_series(path)
    theirs = sitk_volume(sitk_series_files(path))
    np.testing.assert_allclose(ours.spacing, theirs.spacing, atol=1e-5)
    np.testing.assert_allclose(ours.affine[:3, 3], theirs.affine[:3, 3], atol=1e-4)  # origin
    directions = lambda v: v.affine[:3, :3] / np.array(v.spacing)  # noqa: E731
    np.testing.assert_allclose(directions(ours), directions(theirs), atol=1e-6)
    np.testing.assert_array_equal(ours.array, theirs.array)


# ---------------------------------------------------------------- pydicom's and nibabel's own files


def test_pydicom_ct_series_sorted_by_position_not_instance_number():
    folder = PYDICOM_FILES / "dicomdirtests" / "98892001" / "CT5N"
    ct, info = load_series(folder)
    assert ct.shape == (16, 16, 5)
    np.testing.assert_allclose(ct.spacing[2], 2.5, atol=1e-4)
    zs = [float(pydicom.dcmread(f, stop_before_pixels=True).ImagePositionPatient[2]) for f in info.files]
    assert zs == sorted(zs)  # InstanceNumber runs the other way in this series
    theirs = sitk_volume(sitk_series_files(folder))
    check_same_grid(theirs.as_canonical(), ct.as_canonical())
    np.testing.assert_array_equal(theirs.as_canonical().array, ct.as_canonical().array)


def test_pydicom_series_with_missing_slices_reports_the_gap():
    with pytest.raises(SliceSpacingError, match="missing slices.*161 slice") as caught:
        read_dicom_series(PYDICOM_FILES / "dicomdirtests" / "77654033" / "CT2")
    assert caught.value.step_mm == pytest.approx(1.25, abs=1e-3)
    (before, after, gap), = caught.value.gaps
    assert (before, after, gap) == pytest.approx((-99.48, 103.02, 202.5), abs=1e-2)


def test_pydicom_folder_of_several_series_lists_them_and_picks_by_uid():
    folder = PYDICOM_FILES / "dicomdirtests" / "98892003" / "MR2"
    with pytest.raises(SeriesSelectionError, match="holds 3 image series") as caught:
        read_dicom_series(folder)
    uids = [uid for uid, *_ in caught.value.series]
    assert len(uids) == 3 and all(modality == "MR" for _, modality, _, _ in caught.value.series)
    # Each is a three-plane localizer: its slices differ in orientation and cannot stack.
    with pytest.raises(ReadError, match="differ in orientation"):
        read_dicom_series(folder, series_uid=max(caught.value.series, key=lambda s: s[3])[0])
    with pytest.raises(SeriesSelectionError, match="holds no series 9.9.9"):
        read_dicom_series(folder, series_uid="9.9.9")


def test_pydicom_radial_series_is_refused():
    with pytest.raises(ReadError, match="differ in orientation"):
        read_dicom_series(PYDICOM_FILES / "dicomdirtests" / "98892003" / "MR700")


@pytest.mark.parametrize("name", ["MR_small_RLE.dcm", "MR_small_jpeg_ls_lossless.dcm", "MR_small_jp2klossless.dcm",
                                  "MR_small_bigendian.dcm", "MR_small_implicit.dcm"])
def test_compressed_and_big_endian_slices_decode_to_the_same_values(name):
    reference = read_dicom_series(PYDICOM_FILES / "MR_small.dcm")
    volume = read_dicom_series(PYDICOM_FILES / name)
    assert volume.array.dtype.isnative
    np.testing.assert_array_equal(volume.array, reference.array)
    np.testing.assert_allclose(volume.affine, reference.affine)


def test_pydicom_ct_slice_in_hu():
    path = PYDICOM_FILES / "CT_small.dcm"
    ds = pydicom.dcmread(path)
    ct = read_dicom_series(path)
    expected = ds.pixel_array.T * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    np.testing.assert_array_equal(ct.array[..., 0], expected)
    np.testing.assert_allclose(ct.spacing, [0.661468, 0.661468, float(ds.SliceThickness)])


def test_nibabel_files_rescale_mosaic_and_empty_thickness():
    rescaled = read_dicom_series(NIBABEL_NICOM_FILES / "decimal_rescale.dcm")
    raw = pydicom.dcmread(NIBABEL_NICOM_FILES / "decimal_rescale.dcm").pixel_array
    np.testing.assert_array_equal(rescaled.array[..., 0], raw.T.astype(np.int32) * 2 - 4096)  # slope 2, -4096
    with pytest.raises(ReadError, match="MOSAIC"):
        read_dicom_series(NIBABEL_FILES / "0.dcm")
    with pytest.raises(MissingTagError, match="SliceThickness"):
        read_dicom_series(NIBABEL_NICOM_FILES / "slicethickness_empty_string.dcm")


# ---------------------------------------------------------------- synthetic series: edge cases

OBLIQUE = (0.98, 0.0, 0.198997487, 0.0, 1.0, 0.0)


@pytest.mark.parametrize("orientation, tilt", [((1, 0, 0, 0, 1, 0), (0, 0, 0)), (OBLIQUE, (0, 0, 0)),
                                                ((1, 0, 0, 0, 0, -1), (0, 0, 0)), ((1, 0, 0, 0, 1, 0), (0, 0.6, 0))],
                         ids=["axial", "oblique", "coronal", "gantry-tilt"])
def test_synthetic_series_values_and_geometry(tmp_path, orientation, tilt):
    _, values, positions = write_series(tmp_path, orientation=orientation, tilt=tilt)
    volume = read_dicom_series(tmp_path)
    # array[i, j, k] is column i, row j of slice k, in HU
    np.testing.assert_array_equal(volume.array, values.transpose(2, 1, 0).astype(np.int16) - 1024)
    assert volume.array.dtype == np.int16
    np.testing.assert_allclose(volume.affine, expected_affine(positions, orientation, (0.7, 0.8)), atol=1e-6)
    # Every slice's first pixel sits at its ImagePositionPatient (in RAS).
    for k, position in enumerate(positions):
        np.testing.assert_allclose(volume.affine @ [0, 0, k, 1], [*([-1, -1, 1] * position), 1], atol=1e-6)


def test_synthetic_gap_and_non_uniform_spacing(tmp_path):
    write_series(tmp_path / "gap", count=6, drop=(2, 3))  # slices at z = 30, 32.5, 40, 42.5
    with pytest.raises(SliceSpacingError, match=r"missing slices.*32.500 -> 40.000 mm \(step 7.500 mm, 2 slice") as gap:
        read_dicom_series(tmp_path / "gap")
    assert gap.value.gaps == [pytest.approx((32.5, 40.0, 7.5))] and gap.value.step_mm == pytest.approx(2.5)
    uneven = tmp_path / "uneven"
    write_series(uneven, count=4)  # z = 30, 32.5, 35, 37.5; IM0001 is the last
    moved = pydicom.dcmread(uneven / next(f.name for f in uneven.iterdir() if f.name.startswith("IM0001")))
    moved.ImagePositionPatient = [*moved.ImagePositionPatient[:2], 38.5]
    moved.save_as(moved.filename)
    with pytest.raises(SliceSpacingError, match=r"non-uniform slice spacing.*35.000 -> 38.500 mm"):
        read_dicom_series(uneven)
