"""Surface distances of 2D images: measured in the image plane, in mm when the file gives a pixel size
(DICOM PixelSpacing, TIFF resolution, a BIDS sidecar's PixelSize), else in pixels; checked against
MONAI on the shared chest X-ray lung and ISBI membrane masks (tests/data/surface_2d_monai.json,
written by tests/reference/make_surface_2d_golden.py)."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from jaxseg import metrics
from jaxseg.config import load_config
from jaxseg.data.cases import read_case
from jaxseg.data.datasets import read_index
from jaxseg.data.images2d import Reading2D, read_planar_case
from jaxseg.evaluate import case_metrics
from jaxseg.io import ReadError, read_image
from tests.data_samples import AXON, CXR, ISBI, need
from tests.io_samples import make_slice

REFERENCE = json.loads((Path(__file__).parent / "data" / "surface_2d_monai.json").read_text())
CONFIGS = {"cxr_lung_covid_hannover": ("cxr_lungs_unet", CXR), "isbi2012_em_membrane": ("isbi_membranes_unet", ISBI)}


@pytest.mark.parametrize("pair", REFERENCE["pairs"], ids=lambda p: f"{p['dataset'][:4]}-{p['pred']}-{p['true']}")
def test_2d_distances_of_shared_masks_equal_monai(pair):
    """Read as `jaxseg evaluate` reads them (one-slice volumes in RAS order), measured in pixels."""
    name, root = CONFIGS[pair["dataset"]]
    config = load_config(name, [f"data.root={need(root)}"])
    index = read_index(config, ".")
    cases = {case.case_id: case for case in index.cases}
    pred, true = (read_case(cases[Path(f).stem], index.num_classes, len(index.channels))
                  for f in (pair["pred"], pair["true"]))
    assert pred.spacing_unit == true.spacing_unit == "px" and true.label.shape == (*pair["shape"][::-1], 1)
    foreground = index.labels[1]
    got = case_metrics(pred.label.array, true.label.array, index.labels, true.label.spacing)[foreground]
    assert got["HD95"] == pytest.approx(pair["values"]["HD95"], abs=1e-3)
    assert got["ASSD"] == pytest.approx(pair["values"]["ASSD"], abs=1e-3)
    hd = metrics.hausdorff_distance(pred.label.array[..., 0] == 1, true.label.array[..., 0] == 1)
    assert hd == pytest.approx(pair["values"]["HD"], abs=1e-3)


def test_one_slice_volume_is_measured_in_its_plane_with_its_spacing():
    true = np.zeros((12, 10, 1), np.uint8)
    true[2:8, 3:6] = 1
    pred = np.roll(true, 2, axis=0)  # two rows down: 2 x 0.5 mm
    labels = {0: "background", 1: "fg"}
    got = case_metrics(pred, true, labels, (0.5, 3.0, 1.0))["fg"]
    assert got["HD95"] == 1.0 and got["ASSD"] == pytest.approx(
        metrics.average_surface_distance(pred[..., 0], true[..., 0], (0.5, 3.0)))
    # Of each mask's 14 edge pixels, 8 lie on the other's edge, 2 are 0.5 mm and 4 are 1 mm from it.
    assert got["ASSD"] == pytest.approx((2 * 0.5 + 4 * 1.0) / 14)
    # Measured on the one-slice volume (the old way) all 18 pixels are surface: 3 at 0.5 mm, 3 at 1 mm.
    assert metrics.average_surface_distance(pred == 1, true == 1, (0.5, 3.0, 1.0)) == pytest.approx(4.5 / 18)


def test_tiff_resolution_and_bids_sidecar_give_the_pixel_size(tmp_path):
    pixels = np.zeros((4, 6), np.uint8)
    Image.fromarray(pixels).save(tmp_path / "cm.tif", resolution=50.0, resolution_unit=3)  # 50 px/cm: 0.2 mm
    assert read_image(tmp_path / "cm.tif").spacing == (0.2, 0.2)
    Image.fromarray(pixels).save(tmp_path / "inch.tif", dpi=(254.0, 127.0))  # x 254, y 127 per inch
    assert read_image(tmp_path / "inch.tif").spacing == pytest.approx((0.2, 0.1))
    Image.fromarray(pixels).save(tmp_path / "plain.tif")
    Image.fromarray(pixels).save(tmp_path / "plain.png", dpi=(300, 300))  # a display hint, not a size
    assert read_image(tmp_path / "plain.tif").spacing is None and read_image(tmp_path / "plain.png").spacing is None
    Image.fromarray(pixels).save(tmp_path / "sem.png")
    (tmp_path / "sem.json").write_text(json.dumps({"PixelSize": [0.18, 0.09], "PixelSizeUnits": "um"}))
    assert read_image(tmp_path / "sem.png").spacing == pytest.approx((0.00009, 0.00018))  # (row = Y, column = X)
    (tmp_path / "sem.json").write_text(json.dumps({"PixelSize": [0.18], "PixelSizeUnits": "um"}))
    with pytest.raises(ReadError, match=r"sem\.json: PixelSize \[0\.18\] in 'um': expected \[X, Y\]"):
        read_image(tmp_path / "sem.png")


def test_axon_sem_images_read_their_sidecar_pixel_size():
    image = read_image(need(AXON) / "images" / "sub-rat1_sample-data1_SEM.png")
    assert image.spacing == pytest.approx((0.00018, 0.00018))


def test_planar_case_unit_is_mm_only_when_the_file_gives_a_pixel_size(tmp_path):
    mask = np.zeros((8, 8), np.uint8)
    mask[2:5, 2:6] = 1
    Image.fromarray(mask).save(tmp_path / "mask.png")
    Image.fromarray(mask * 40).save(tmp_path / "plain.png")
    make_slice(mask.astype(np.uint16), (0, 0, 0), series_uid="1.2.3.9", instance=1,
               spacing=(0.7, 0.8)).save_as(tmp_path / "ct.dcm", enforce_file_format=True)
    reading = Reading2D()
    image, label, unit = read_planar_case(tmp_path / "plain.png", tmp_path / "mask.png", reading)
    assert unit == "px" and label.spacing == (1.0, 1.0, 1.0)
    image, label, unit = read_planar_case(tmp_path / "ct.dcm", tmp_path / "mask.png", reading)
    assert unit == "mm" and label.spacing == pytest.approx((0.7, 0.8, 1.0))  # (rows, columns): PixelSpacing
