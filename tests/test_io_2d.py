"""2D images, masks, per-nucleus mask folders, run-length codes, box CSVs and DICOM radiographs."""

import csv

import numpy as np
import pydicom
import pytest
from PIL import Image

from jaxseg.io import (
    GeometryMismatchError,
    MissingTagError,
    ReadError,
    check_boxes_inside,
    check_same_size,
    read_box_csv,
    read_dicom_image,
    read_image,
    read_instance_masks,
    read_mask,
    read_rle_csv,
    rle_decode,
    rle_encode,
    write_mask,
)
from tests.io_samples import NIBABEL_NICOM_FILES, PYDICOM_FILES, make_slice, pydicom_data, shared

# ---------------------------------------------------------------- chest X-rays with lung masks and boxes


def test_hannover_images_masks_and_boxes_agree():
    root = shared("cxr_lung_covid_hannover")
    boxes = read_box_csv(root / "boxes.csv")
    assert len(boxes) == 20 and sum(len(b) for b in boxes.values()) == 40
    for name in sorted(boxes)[:3]:
        image = read_image(root / name)
        mask = read_mask(root / "masks" / (name.split("/")[-1][:-4] + ".png"))
        assert image.shape == (2000, 2000) and image.array.dtype == np.uint8 and image.spacing is None
        check_same_size(image, mask)
        assert set(np.unique(mask.array)) <= {0, 127, 255}
        check_boxes_inside(boxes[name], image)
        by_label = {box.label: box for box in boxes[name]}
        # Patient's right lung is drawn on the image's left.
        right, left = by_label["Right Lung"], by_label["Left Lung"]
        assert right.x + right.width / 2 < left.x + left.width / 2
        # The boxes hold the lungs of the mask.
        inside = np.zeros(image.shape, bool)
        for box in boxes[name]:
            ymin, xmin, ymax, xmax = (int(round(v)) for v in box.yxyx())
            inside[ymin:ymax, xmin:xmax] = True
        lung = mask.array == 255
        assert inside[lung].mean() > 0.95


def test_rsna_box_csv_keeps_images_without_boxes(tmp_path):
    path = tmp_path / "stage_2_train_labels.csv"
    path.write_text("patientId,x,y,width,height,Target\n"
                    "0004cfab,,,,,0\n"
                    "00436515,562.0,152.0,256.0,453.0,1\n"
                    "00436515,264.0,152.0,213.0,379.0,1\n")
    boxes = read_box_csv(path)
    assert boxes["0004cfab"] == []
    assert [b.yxyx() for b in boxes["00436515"]] == [(152.0, 562.0, 605.0, 818.0), (152.0, 264.0, 531.0, 477.0)]
    assert {b.label for b in boxes["00436515"]} == {"pneumonia"}


@pytest.mark.parametrize("text, problem", [
    ("a,b,c\n1,2,3\n", "unknown box CSV header a,b,c"),
    ("image,label,x,y,w,h\nimg.png,lung,1,two,3,4\n", "line 2: y is not a number"),
    ("image,label,x,y,w,h\nimg.png,lung,1,2,0,4\n", "line 2: box of size 0.0 x 4.0"),
])
def test_bad_box_csv(tmp_path, text, problem):
    (tmp_path / "boxes.csv").write_text(text)
    with pytest.raises(ReadError, match=f"boxes.csv: {problem}"):
        read_box_csv(tmp_path / "boxes.csv")


def test_box_outside_the_image_is_a_geometry_error(tmp_path):
    (tmp_path / "boxes.csv").write_text("image,label,x,y,w,h\na.png,lung,10,10,30,5\n")
    write_mask(np.zeros((20, 20), np.uint8), tmp_path / "a.png")
    with pytest.raises(GeometryMismatchError, match="a.png: box .* reaches outside the image"):
        check_boxes_inside(read_box_csv(tmp_path / "boxes.csv")["a.png"], read_image(tmp_path / "a.png"))


# ---------------------------------------------------------------- nuclei: instance maps, mask folders, RLE


@pytest.fixture(scope="module")
def nuclei():
    root = shared("dsb2018_nuclei")
    with open(root / "metadata.csv") as handle:
        return root, list(csv.DictReader(handle))[:3]


def _split_instances(labels: np.ndarray, folder):
    """The original DSB layout: one binary PNG per nucleus, named in instance order."""
    folder.mkdir()
    for n in range(1, int(labels.max()) + 1):
        write_mask((labels == n).astype(np.uint8) * 255, folder / f"{n:04d}.png")


def test_dsb_mask_folders_rle_and_instance_maps(nuclei, tmp_path):
    root, rows = nuclei
    for row in rows:
        image, labels = read_image(root / row["image"]), read_mask(root / row["label"])
        assert image.array.shape == (int(row["height"]), int(row["width"]), 4) and image.array.dtype == np.uint8
        assert labels.array.dtype == np.uint16 and int(labels.array.max()) == int(row["n_nuclei"])
        check_same_size(image, labels)
        _split_instances(labels.array, tmp_path / row["id"])
        np.testing.assert_array_equal(read_instance_masks(tmp_path / row["id"]).array, labels.array)
        codes = [rle_encode(labels.array == n) for n in range(1, int(row["n_nuclei"]) + 1)]
        rebuilt = np.zeros_like(labels.array)
        for n, code in enumerate(codes, start=1):
            rebuilt[rle_decode(code, labels.shape)] = n
        np.testing.assert_array_equal(rebuilt, labels.array)
    csv_path = tmp_path / "stage1_train_labels.csv"
    csv_path.write_text("ImageId,EncodedPixels\n" + "".join(f"img,{c}\n" for c in codes) + "empty,\n")
    assert read_rle_csv(csv_path) == {"img": codes, "empty": []}


def test_rle_follows_kaggle_numbering():
    mask = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]])  # pixels counted down columns, from 1
    assert rle_encode(mask) == "2 1 4 3 8 1"
    np.testing.assert_array_equal(rle_decode("2 1 4 3 8 1", (3, 3)), mask.astype(bool))
    assert rle_encode(np.zeros((4, 4))) == "" and not rle_decode("", (4, 4)).any()
    for bad, problem in [("1 2 3", "odd number"), ("9 2", "outside"), ("1 3 2 1", "overlapping"), ("a b", "non-int")]:
        with pytest.raises(ValueError, match=problem):
            rle_decode(bad, (3, 3))


def test_mask_folder_errors(tmp_path):
    (tmp_path / "masks").mkdir()
    write_mask(np.eye(4, dtype=bool), tmp_path / "masks" / "a.png")
    write_mask(np.eye(4, dtype=bool)[::-1] | np.eye(4, dtype=bool), tmp_path / "masks" / "b.png")
    with pytest.raises(ReadError, match=r"b.png: overlaps a.png in 4 pixels"):
        read_instance_masks(tmp_path / "masks")
    write_mask(np.zeros((4, 5), np.uint8), tmp_path / "masks" / "b.png")
    with pytest.raises(GeometryMismatchError, match=r"b.png: size \(4, 5\)"):
        read_instance_masks(tmp_path / "masks")


# ---------------------------------------------------------------- PNG / JPEG / TIFF files


@pytest.mark.parametrize("suffix", [".png", ".tif"])
@pytest.mark.parametrize("labels", [np.array([[0, 1], [2, 255]]), np.array([[0, 300], [65535, 7]]),
                                    np.array([[True, False], [False, True]])])
def test_write_mask_round_trip(tmp_path, suffix, labels):
    path = write_mask(labels, tmp_path / f"mask{suffix}")
    back = read_mask(path)
    np.testing.assert_array_equal(back.array, labels.astype(np.int64))
    assert back.array.dtype == (np.uint16 if labels.max() > 255 else np.uint8)


def test_bad_images_and_masks(tmp_path):
    with pytest.raises(ValueError, match="lossless"):
        write_mask(np.zeros((2, 2), np.uint8), tmp_path / "mask.jpg")
    noise = np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)  # incompressible
    good = write_mask(noise, tmp_path / "good.png")
    (tmp_path / "cut.png").write_bytes(good.read_bytes()[:2000])
    with pytest.raises(ReadError, match="cut.png: not a readable image"):
        read_image(tmp_path / "cut.png")
    with pytest.raises(ReadError, match="notes.txt: unsupported 2D image type"):
        (tmp_path / "notes.txt").write_text("x")
        read_image(tmp_path / "notes.txt")
    pages = [Image.fromarray(np.zeros((4, 4), np.uint8)) for _ in range(3)]
    pages[0].save(tmp_path / "stack.tif", save_all=True, append_images=pages[1:])
    with pytest.raises(ReadError, match="stack.tif: holds 3 pages"):
        read_image(tmp_path / "stack.tif")
    red = np.dstack([np.eye(4, dtype=np.uint8) * 255, np.zeros((4, 4, 2), np.uint8)])
    Image.fromarray(red).save(tmp_path / "rgb.png")
    with pytest.raises(ReadError, match="rgb.png: colour mask"):
        read_mask(tmp_path / "rgb.png")


# ---------------------------------------------------------------- DICOM radiographs and single images


def test_monochrome1_radiograph_is_inverted_and_j2k_matches_uncompressed():
    raw = pydicom.dcmread(pydicom_data("RG1_UNCR.dcm")).pixel_array  # CR chest, MONOCHROME1, 15 bits
    image = read_dicom_image(pydicom_data("RG1_UNCR.dcm"))
    np.testing.assert_array_equal(image.array, 32767 - raw)
    assert image.spacing is None  # PixelSpacing is stored as 0
    np.testing.assert_array_equal(read_dicom_image(pydicom_data("RG1_J2KR.dcm")).array, image.array)


def test_jpeg_lossless_image_from_pydicom_data():
    lossless = read_dicom_image(pydicom_data("JPEG-LL.dcm"))  # JPEG lossless, process 14
    assert lossless.shape == (1024, 256) and lossless.spacing == (2.26, 2.26)
    assert lossless.array.dtype == np.int16 and lossless.array.max() > 0


def test_synthetic_monochrome1_radiograph_spacing_from_the_detector(tmp_path):
    values = np.arange(12, dtype=np.uint16).reshape(3, 4) * 300
    ds = make_slice(values, (0, 0, 0), series_uid="1.2.3.8", instance=1, modality="DX", photometric="MONOCHROME1",
                    intercept=0.0)
    del ds.ImagePositionPatient, ds.ImageOrientationPatient, ds.PixelSpacing
    ds.ImagerPixelSpacing = [0.139, 0.143]
    ds.save_as(tmp_path / "dx.dcm", enforce_file_format=True)
    image = read_dicom_image(tmp_path / "dx.dcm")
    np.testing.assert_array_equal(image.array, 4095 - values)
    assert image.spacing == (0.139, 0.143)


@pytest.mark.filterwarnings("ignore:Expected explicit VR:UserWarning")
def test_dicom_single_images_from_the_pydicom_and_nibabel_wheels():
    colour = read_dicom_image(PYDICOM_FILES / "SC_rgb_jpeg.dcm")  # JPEG baseline, YBR -> RGB
    assert colour.array.shape == (256, 256, 3) and colour.array.dtype == np.uint8
    projection = read_dicom_image(NIBABEL_NICOM_FILES / "slicethickness_empty_string.dcm")  # JPEG 2000 MIP
    assert projection.shape == (384, 384) and projection.spacing == (0.520833, 0.520833)
    with pytest.raises(ReadError, match=r"JPEG-lossy.dcm: cannot decode the pixel data \(JPEG Extended"):
        read_dicom_image(PYDICOM_FILES / "JPEG-lossy.dcm")
    with pytest.raises(MissingTagError, match="csa_slice_norm.dcm: missing required DICOM attribute PixelData"):
        read_dicom_image(NIBABEL_NICOM_FILES / "csa_slice_norm.dcm")
    with pytest.raises(ReadError, match=r"SC_rgb_rle_2frame.dcm: is a multi-frame image \(2 frame"):
        read_dicom_image(PYDICOM_FILES / "SC_rgb_rle_2frame.dcm")
    with pytest.raises(ReadError, match="liver_1frame.dcm: is a DICOM SEG"):
        read_dicom_image(PYDICOM_FILES / "liver_1frame.dcm")


# ---------------------------------------------------------------- label maps a viewer shows


def test_2d_label_maps_are_palette_images_with_a_sidecar_naming_the_classes(tmp_path):
    import json

    from jaxseg.io import image_volume, write_label_map
    from jaxseg.io.image2d import Image2D, label_colours

    labels = np.array([[0, 1, 1], [2, 0, 1]], np.uint8)
    volume = image_volume(Image2D(labels), labels).as_canonical()  # any axis order: written as the image
    path = write_label_map(volume, tmp_path / "case.png", class_names={0: "background", 1: "liver", 2: "spleen"})
    image = Image.open(path)
    assert image.mode == "P" and np.array_equal(np.asarray(image), labels)  # values are the labels
    assert np.asarray(image.convert("RGB"))[0].tolist() == [[0, 0, 0], [255, 38, 38], [255, 38, 38]]
    assert label_colours(3) == [(0, 0, 0), (255, 38, 38), (38, 101, 255)]
    assert json.loads((tmp_path / "case.json").read_text()) == {
        "encoding": "pixel values are the labels; the PNG/TIFF palette colours them",
        "labels": {"0": {"name": "background", "colour": [0, 0, 0]}, "1": {"name": "liver", "colour": [255, 38, 38]},
                   "2": {"name": "spleen", "colour": [38, 101, 255]}}}
    # Read back as a mask: the labels; and without names, classes are numbered.
    assert np.array_equal(read_mask(path).array, labels)
    write_label_map(image_volume(Image2D(labels), labels), tmp_path / "plain.tif")
    sidecar = json.loads((tmp_path / "plain.json").read_text())
    assert [v["name"] for v in sidecar["labels"].values()] == ["background", "class_1", "class_2"]
    assert np.array_equal(np.asarray(Image.open(tmp_path / "plain.tif")), labels)
