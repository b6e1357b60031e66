"""Dataset indexes without a dataset.json: 2D image folders, DSB 2018, DICOM series folders, on real samples."""

import csv
import os

import numpy as np
import pytest
from PIL import Image

from jaxseg.config import ConfigError
from jaxseg.data.cases import read_case
from jaxseg.data.datasets import open_dataset, prepare_all, read_index
from jaxseg.data.dicom_folders import read_dicom_folders
from jaxseg.data.images2d import object_outlines
from jaxseg.io import ReadError, read_mask, volume_pixels, write_mask
from tests.data_samples import AXON, CXR, DCMQI, DSB, ISBI, config_for, image_folder_subset, need

ISBI_VALUES = {"layout.label_values": ((0, 1), (255, 0)), "layout.class_names": ("cell", "membrane")}


def _pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path))


def _read(index, number=0):
    case = index.cases[number]
    return case, read_case(case, index.num_classes, len(index.channels))


def test_isbi_membranes_are_class_1_of_one_slice_volumes(tmp_path):
    need(ISBI)
    index = read_index(config_for(ISBI, tmp_path, **{"data.source": "image_folders", **ISBI_VALUES}), tmp_path)
    assert len(index.cases) == 30 and index.cases[0].case_id == "00" and index.labels == {0: "cell", 1: "membrane"}
    assert index.channels == ("gray",)
    case, loaded = _read(index)
    assert loaded.image.array.shape == (512, 512, 1, 1) and loaded.label.array.shape == (512, 512, 1)
    assert loaded.image.orientation == ("R", "A", "S") and loaded.image.plane_axis("axial") == 2
    label = _pixels(ISBI / "labels" / "00.png")
    # On RAS axes and back: the stored rows and columns, membrane (pixel 0) as class 1.
    np.testing.assert_array_equal(volume_pixels(loaded.label), (label == 0).astype(np.uint8))
    np.testing.assert_array_equal(volume_pixels(loaded.image)[..., 0], _pixels(ISBI / "images" / "00.png"))
    assert int(loaded.label.array.sum()) == 57492  # 21.9 % membrane, as SOURCE.md says (about 22 %)


def test_chest_xray_lungs_take_the_ignore_value_as_background(tmp_path):
    need(CXR)
    config = config_for(CXR, tmp_path, **{"data.source": "image_folders", "layout.mask_dir": "masks",
                                          "layout.label_values": ((0, 0), (127, 0), (255, 1))})
    index = read_index(config, tmp_path)
    assert len(index.cases) == 20 and all(c.images[0].suffix == ".jpg" and c.label.suffix == ".png"
                                          for c in index.cases)
    number = [c.case_id for c in index.cases].index("f64132c8")  # One of the 2 masks with V7's "Ignore" (127).
    _, loaded = _read(index, number)
    assert loaded.image.array.shape == (2000, 2000, 1, 1)
    assert np.bincount(loaded.label.array.ravel()).tolist() == [2431974 + 88717, 1479309]  # 0 + 127, 255


def test_axon_myelin_masks_map_stray_values_to_the_nearest_class(tmp_path):
    need(AXON)
    values = {"data.source": "image_folders", "layout.mask_suffix": "_seg-axonmyelin-manual", "model.num_classes": 3,
              "layout.label_values": ((0, 0), (127, 1), (128, 1), (255, 2))}
    strict = read_index(config_for(AXON, tmp_path, **values), tmp_path)
    assert len(strict.cases) == 8 and strict.num_classes == 3
    rat2 = [c.case_id for c in strict.cases].index("sub-rat2_sample-data5_SEM")
    with pytest.raises(ReadError, match=r"seg-axonmyelin-manual.png: mask values \[130, 233\] are not among"):
        _read(strict, rat2)
    index = read_index(config_for(AXON, tmp_path, **values, **{"layout.unlisted_values": "nearest"}), tmp_path)
    case, loaded = _read(index, rat2)
    mask = _pixels(case.label)
    counts = np.bincount(volume_pixels(loaded.label).ravel(), minlength=3)
    assert counts.tolist() == [int((mask < 64).sum()), int(((mask >= 64) & (mask < 192)).sum()),
                               int((mask >= 192).sum())]
    rat6 = [c.case_id for c in index.cases].index("sub-rat6_sample-data15_SEM")  # grey + alpha: one channel
    assert _read(index, rat6)[1].image.array.shape[-1] == 1


def test_dsb_nuclei_binary_border_and_colour(tmp_path):
    need(DSB)
    index = read_index(config_for(DSB, tmp_path, **{"data.source": "dsb2018", "layout.colour": "rgb",
                                                    "layout.nuclei_border": True, "model.num_classes": 3}), tmp_path)
    assert len(index.cases) == 30 and index.labels == {0: "background", 1: "nucleus", 2: "border"}
    assert index.channels == ("red", "green", "blue")
    case, loaded = _read(index)
    rgba = _pixels(case.images[0])
    np.testing.assert_array_equal(volume_pixels(loaded.image), rgba[..., :3])  # alpha dropped
    instances = _pixels(case.label)
    classes = volume_pixels(loaded.label)
    assert int((classes > 0).sum()) == int((instances > 0).sum())
    with open(DSB / "metadata.csv") as f:
        nuclei = {row["id"]: int(row["n_nuclei"]) for row in csv.DictReader(f)}
    assert len(np.unique(instances[classes == 2])) == nuclei[case.case_id]  # every nucleus has an outline
    grey = read_index(config_for(DSB, tmp_path, **{"data.source": "dsb2018"}), tmp_path)
    assert grey.channels == ("gray",) and grey.num_classes == 2
    luminance = np.asarray(Image.open(case.images[0]).convert("L"), np.float32)
    np.testing.assert_allclose(volume_pixels(_read(grey)[1].image)[..., 0], luminance, atol=1.0)


def test_outlines_separate_touching_objects():
    instances = np.zeros((6, 8), np.uint16)
    instances[1:5, 1:4] = 1
    instances[1:5, 4:7] = 2  # touches object 1
    outline = object_outlines(instances)
    assert outline[1:5, 3].all() and outline[1:5, 4].all()  # the shared edge, on both sides
    assert not outline[2:4, 2].any() and not outline[2:4, 5].any()  # interiors
    assert int(outline.sum()) == 20 and not outline[instances == 0].any()


def test_kaggle_dsb_layout_equals_the_instance_maps(tmp_path):
    need(DSB)
    case_id = "a101a00fea63f0c43abe5323f4f890bec881eb0caa3bc8498991ff5fd207ed91"
    folder = tmp_path / "stage1_train" / case_id
    (folder / "images").mkdir(parents=True)
    os.symlink(DSB / "images" / f"{case_id}.png", folder / "images" / f"{case_id}.png")
    instances = read_mask(DSB / "labels" / f"{case_id}.png").array
    for n in range(1, int(instances.max()) + 1):
        write_mask((instances == n).astype(np.uint8) * 255, folder / "masks" / f"nucleus{n:03d}.png")
    kaggle = read_index(config_for(tmp_path / "stage1_train", tmp_path, **{"data.source": "dsb2018"}), tmp_path)
    assert [c.case_id for c in kaggle.cases] == [case_id] and kaggle.cases[0].label == folder / "masks"
    ours = read_index(config_for(DSB, tmp_path, **{"data.source": "dsb2018"}), tmp_path)
    reference = _read(ours, [c.case_id for c in ours.cases].index(case_id))[1]
    np.testing.assert_array_equal(_read(kaggle)[1].label.array, reference.label.array)
    assert int(reference.label.array.sum()) == int((instances > 0).sum())


def test_dicom_series_folders_with_seg_and_nifti_labels(tmp_path):
    need(DCMQI)
    root = tmp_path / "tree"
    (root / "pat1" / "ct").mkdir(parents=True)
    (root / "pat2").mkdir()
    for n in ("01", "02", "03"):
        os.symlink(DCMQI / "ct" / f"{n}.dcm", root / "pat1" / "ct" / f"{n}.dcm")
        os.symlink(DCMQI / "ct" / f"{n}.dcm", root / "pat2" / f"IM{n}")  # DICOM found by content, not name
    os.symlink(DCMQI / "seg" / "liver.dcm", root / "pat1" / "ct" / "label.dcm")
    # SimpleITK stored this NIfTI with the slices the other way round (LPI): same voxels, reordered.
    os.symlink(DCMQI / "nifti" / "liver.nii.gz", root / "pat2" / "label.nii.gz")
    index = read_dicom_folders(root, "label", ("background", "liver"), 2)
    assert [(c.case_id, c.subject, c.label.name) for c in index.cases] == [("pat1_ct", "pat1", "label.dcm"),
                                                                           ("pat2", "pat2", "label.nii.gz")]
    assert index.channels == ("CT",)
    for number in range(2):
        loaded = _read(index, number)[1]
        assert loaded.image.array.shape == (512, 512, 3, 1)
        assert loaded.label.array.sum(axis=(0, 1)).tolist() == [36233, 35645, 35220]  # SOURCE.md, inferior first
    os.unlink(root / "pat2" / "label.nii.gz")
    with pytest.raises(ReadError, match=r"pat2: DICOM series needs one label file label"):
        read_dicom_folders(root, "label", (), 2)
    # The config key `layout.label_name` picks the label file of each series folder.
    os.symlink(DCMQI / "nifti" / "liver.nii.gz", root / "pat2" / "liver_mask.nii.gz")
    os.rename(root / "pat1" / "ct" / "label.dcm", root / "pat1" / "ct" / "liver_mask.dcm")
    config = config_for(root, tmp_path / "cache", **{"data.source": "dicom_folders", "model.num_classes": 2,
                                                      "layout.label_name": "liver_mask"})
    assert [c.label.name for c in read_index(config, tmp_path).cases] == ["liver_mask.dcm", "liver_mask.nii.gz"]


def test_bad_images_are_reported_and_counted_not_fatal(tmp_path, caplog):
    root = image_folder_subset(ISBI, tmp_path / "isbi", ["00.png", "01.png", "02.png"])
    (root / "images" / "03.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    write_mask(np.zeros((4, 4), np.uint8), root / "labels" / "03.png")
    write_mask(np.zeros((512, 512), np.uint8), root / "images" / "04.png")
    write_mask(np.full((512, 512), 7, np.uint8), root / "labels" / "04.png")  # a value the mapping lacks
    config = config_for(root, tmp_path / "cache", **{"data.source": "image_folders", **ISBI_VALUES,
                                                     "prepare.slice_size": (64, 64)})
    summary = prepare_all(config, tmp_path)
    assert sorted(summary.prepared) == ["00", "01", "02"]
    assert sorted(summary.failed) == ["03", "04"]
    assert "03.png: not a readable image" in summary.failed["03"]
    assert "04.png: mask values [7] are not among" in summary.failed["04"]
    assert "case 03 skipped" in caplog.text
    (root / "labels" / "02.png").unlink()
    with pytest.raises(ReadError, match=r"images/02.png: no mask named 02.\* in"):
        read_index(config, tmp_path)


def test_planar_sources_are_checked_against_the_config(tmp_path):
    with pytest.raises(ConfigError, match="'data.plane' = 'coronal' must be 'axial'"):
        config_for(ISBI, tmp_path, **{"data.source": "image_folders", "data.plane": "coronal"})
    with pytest.raises(ConfigError, match="'prepare.slice_size' cannot be combined"):
        config_for(ISBI, tmp_path, **{"prepare.slice_size": (64, 64), "prepare.crop": "foreground"})
    with pytest.raises(ConfigError, match="'layout.label_values'"):
        config_for(ISBI, tmp_path, **{"layout.label_values": ((0, 1), (0, 2))})
    need(ISBI)
    with pytest.raises(ConfigError, match="'model.num_classes' = 3 but the dataset"):
        open_dataset(config_for(ISBI, tmp_path, num_classes=3,
                                **{"data.source": "image_folders", "layout.label_values": ((0, 1), (255, 0))}),
                     tmp_path)
