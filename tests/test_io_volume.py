"""Volume planes by anatomy, predictions written in the source geometry, NRRD reading."""

import nibabel as nib
import nrrd
import numpy as np
import pytest

from jaxseg.io import (
    GeometryMismatchError,
    ReadError,
    Volume,
    check_same_grid,
    nifti_codes,
    read_dicom_series,
    read_nifti,
    read_nrrd,
    write_nifti,
)
from tests.io_samples import shared, sitk_volume

PLANES = ("axial", "coronal", "sagittal")


def _reordered(volume: Volume) -> Volume:
    """The same voxels stored in P, S, R order with two axes reversed (a 'PSR' file)."""
    canonical = volume.as_canonical()
    array = np.ascontiguousarray(np.transpose(canonical.array, (1, 2, 0))[::-1, :, ::-1])
    i, j, _ = canonical.shape
    # index (p, s, r) of the new array is canonical index (k - 1 - r, j - 1 - p, s)
    to_canonical = np.array([[0, 0, -1, i - 1], [-1, 0, 0, j - 1], [0, 1, 0, 0], [0, 0, 0, 1]], float)
    return Volume(array, canonical.affine @ to_canonical, "reordered")


def test_planes_do_not_depend_on_the_stored_axis_order():
    volume = Volume(np.arange(4 * 5 * 6, dtype=np.int32).reshape(4, 5, 6), np.diag([1.0, 2.0, 3.0, 1.0]))
    reordered = _reordered(volume)
    assert reordered.orientation == ("P", "S", "L")
    check_same_grid(volume, reordered.as_canonical())
    for plane in PLANES:
        assert reordered.num_slices(plane) == volume.num_slices(plane)
        for index in range(volume.num_slices(plane)):
            np.testing.assert_array_equal(reordered.plane_slice(plane, index), volume.plane_slice(plane, index))
    # An axial slice of RAS axes, drawn anterior up and the patient's right on the left.
    np.testing.assert_array_equal(volume.plane_slice("axial", 2), volume.array[:, :, 2].T[::-1, ::-1])
    np.testing.assert_array_equal(volume.plane_slice("sagittal", 1), volume.array[1].T[::-1, ::-1])
    with pytest.raises(IndexError):
        volume.plane_slice("axial", 6)
    with pytest.raises(ValueError, match="unknown plane 'transverse'"):
        volume.plane_axis("transverse")


def test_planes_show_real_anatomy_where_radiologists_expect_it():
    root = shared("dicom_ct_liver_seg_dcmqi")
    liver = read_nifti(root / "nifti" / "liver.nii.gz")  # stored L, P, I
    spine = read_nifti(root / "nifti" / "spine.nii.gz")
    axial_liver, axial_spine = liver.plane_slice("axial", 1), spine.plane_slice("axial", 1)
    rows, columns = axial_liver.shape
    assert np.nonzero(axial_liver)[1].mean() < columns / 2  # patient's right on the image's left
    assert np.nonzero(axial_spine)[0].mean() > rows / 2  # posterior at the bottom
    ct = read_dicom_series(shared("totalseg_example_ct", "dicom_ct"))
    labels = read_nifti(shared("totalseg_example_ct", "example_seg_dicom.nii.gz"))  # L, A, S vs the CT's L, P, S
    for plane in PLANES:
        middle = labels.num_slices(plane) // 2
        assert ct.plane_slice(plane, middle).shape == labels.plane_slice(plane, middle).shape
    coronal = labels.plane_slice("coronal", 300)
    assert np.nonzero(coronal == 5)[1].mean() < coronal.shape[1] / 2  # liver (5) on the image's left
    sagittal = labels.plane_slice("sagittal", 256)
    cord, aorta = np.nonzero(sagittal == 79)[1].mean(), np.nonzero(sagittal == 52)[1].mean()
    assert aorta < cord  # anterior on the left: the aorta lies in front of the spinal cord
    hu = ct.plane_slice("axial", 10)
    assert hu[labels.plane_slice("axial", 10) == 5].mean() > 40  # the CT's and the labels' slices overlay


def _like_file(tmp_path):
    """A CT-like NIfTI stored L, P, S with intensity scaling, qform code 1 and sform code 2."""
    affine = np.array([[-0.8, 0, 0, 100.0], [0, -0.8, 0, 120.0], [0, 0, 2.5, -40.0], [0, 0, 0, 1]])
    image = nib.Nifti1Image(np.arange(6 * 7 * 5, dtype=np.int16).reshape(6, 7, 5), affine)
    image.set_qform(affine, code=1)
    image.set_sform(affine, code=2)
    image.header.set_slope_inter(2.0, -1024.0)
    nib.save(image, tmp_path / "image.nii.gz")
    return tmp_path / "image.nii.gz"


def test_prediction_on_canonical_axes_is_written_in_the_source_geometry(tmp_path):
    source = _like_file(tmp_path)
    image = read_nifti(source)
    np.testing.assert_array_equal(image.array, np.arange(210).reshape(6, 7, 5) * 2.0 - 1024)  # scaled on read
    canonical = image.as_canonical()
    prediction = Volume((canonical.array > -900).astype(np.uint8), canonical.affine, "prediction")
    written = write_nifti(prediction, tmp_path / "prediction.nii.gz", like=source)
    assert nifti_codes(written) == nifti_codes(source) == (1, 2)
    header = nib.load(written).header
    assert header.get_data_dtype() == np.uint8 and header.get_slope_inter() in ((1.0, 0.0), (None, None))
    np.testing.assert_array_equal(header.get_sform(), nib.load(source).header.get_sform())
    np.testing.assert_array_equal(header.get_qform(), nib.load(source).header.get_qform())
    back = read_nifti(written)
    check_same_grid(image, back)  # stored in the source's L, P, S order
    np.testing.assert_array_equal(back.array, (image.array > -900).astype(np.uint8))


def test_prediction_on_another_grid_is_refused(tmp_path):
    source = _like_file(tmp_path)
    wrong = Volume(np.zeros((6, 7, 4), np.uint8), read_nifti(source).affine, "prediction")
    with pytest.raises(GeometryMismatchError, match=r"prediction: shape \(6, 7, 4\) differs from .*image.nii.gz"):
        write_nifti(wrong, tmp_path / "out.nii.gz", like=source)
    affine = read_nifti(source).affine.copy()
    affine[0, 3] += 0.5
    shifted = Volume(np.zeros((6, 7, 5), np.uint8), affine, "shifted")
    with pytest.raises(GeometryMismatchError, match="shifted: voxel grid differs .* by up to 0.5 mm"):
        write_nifti(shifted, tmp_path / "out.nii.gz", like=source)
    assert not (tmp_path / "out.nii.gz").exists()


def test_real_lps_mr_prediction_round_trip(tmp_path):
    source = shared("totalseg_example_ct", "example_mr_sm.nii.gz")  # L, P, S, qform 0, sform 2
    canonical = read_nifti(source).as_canonical()
    mask = Volume((canonical.array > 100).astype(np.uint8), canonical.affine)
    written = write_nifti(mask, tmp_path / "mask.nii.gz", like=source)
    assert nib.aff2axcodes(nib.load(written).affine) == ("L", "P", "S") and nifti_codes(written) == (0, 2)
    back = read_nifti(written)
    np.testing.assert_array_equal(back.as_canonical().array, mask.array)
    np.testing.assert_allclose(back.affine, read_nifti(source).affine)


@pytest.mark.parametrize("case", ["brain1", "breast1"])
def test_nrrd_matches_the_nifti_conversion_and_simpleitk(case):
    root = shared("pyradiomics_testcases")
    for kind in ("image", "label"):
        volume = read_nrrd(root / "nrrd" / f"{case}_{kind}.nrrd")
        nifti = read_nifti(root / "nifti" / f"{case}_{kind}.nii.gz")
        check_same_grid(nifti, volume, atol_mm=1e-3)
        np.testing.assert_array_equal(volume.array, nifti.array)
        theirs = sitk_volume(root / "nrrd" / f"{case}_{kind}.nrrd")
        check_same_grid(theirs, volume, atol_mm=1e-4)
    lesion = read_nrrd(root / "nrrd" / f"{case}_label.nrrd").array > 0
    assert int(lesion.sum()) == {"brain1": 4137, "breast1": 143}[case]


def test_nrrd_channels_and_unknown_space(tmp_path):
    data = np.arange(2 * 3 * 4 * 5, dtype=np.int16).reshape(2, 3, 4, 5)
    directions = [[np.nan] * 3, [1.0, 0, 0], [0, 2.0, 0], [0, 0, 3.0]]
    nrrd.write(str(tmp_path / "multi.nrrd"), data, {"space": "left-posterior-superior", "space directions": directions,
                                                    "space origin": [10.0, 20.0, 30.0],
                                                    "kinds": ["vector", "domain", "domain", "domain"]})
    volume = read_nrrd(tmp_path / "multi.nrrd")
    assert volume.array.shape == (3, 4, 5, 2)
    np.testing.assert_array_equal(volume.array[..., 1], data[1])
    np.testing.assert_allclose(volume.affine, [[-1, 0, 0, -10], [0, -2, 0, -20], [0, 0, 3, 30], [0, 0, 0, 1]])
    nrrd.write(str(tmp_path / "scanner.nrrd"), data[0], {"space": "scanner-xyz", "space directions": np.eye(3),
                                                         "space origin": [0.0, 0, 0]})
    with pytest.raises(ReadError, match="scanner.nrrd: NRRD space 'scanner-xyz' is not an anatomical space"):
        read_nrrd(tmp_path / "scanner.nrrd")
    (tmp_path / "broken.nrrd").write_bytes(b"NRRD0004\ntype: short\ndimension: 3\nsizes: 3 4\n\n")
    with pytest.raises(ReadError, match=r"broken.nrrd: claims shape \(3, 4\) .* truncated or damaged"):
        read_nrrd(tmp_path / "broken.nrrd")


@pytest.mark.parametrize("parts", [
    ("totalseg_example_ct", "example_mr_sm.nii.gz"),
    ("totalseg_example_ct", "example_seg_dicom.nii.gz"),
    ("pyradiomics_testcases", "nifti", "brain1_image.nii.gz"),
    ("msd_spleen_crop_ivadomed", "imagesTr", "spleen_2_crop.nii.gz"),
    ("spinalcord_mri_ivadomed_sct", "sub-unf01", "sub-unf01_T2w.nii.gz"),
    ("dicom_ct_liver_seg_dcmqi", "nifti", "ct.nii.gz"),
    ("brats2015_deepmedic_subset", "brats_2013_pat0001_1", "OTMultiClass.nii.gz"),
], ids=lambda parts: parts[-1])
def test_simpleitk_agrees_on_real_nifti(parts):
    path = shared(*parts)
    ours, theirs = read_nifti(path), sitk_volume(path)
    np.testing.assert_allclose(ours.spacing, theirs.spacing, atol=1e-5)
    np.testing.assert_allclose(ours.affine, theirs.affine, atol=1e-4)  # origin and direction
    np.testing.assert_array_equal(ours.array, theirs.array)
