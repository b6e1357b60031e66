"""Datasets for the data-pipeline tests, built in temporary folders from ../shared/data and phantoms."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from jaxseg.config import load_config

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SPLEEN = SHARED / "msd_spleen_crop_ivadomed"
SPINE = SHARED / "spinalcord_mri_ivadomed_sct" / "sub-unf01"


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"shared sample data {path} is absent")
    return path


def msd_spleen(root: Path) -> Path:
    """The real MSD spleen crop in the Decathlon layout (dataset.json with a `training` list)."""
    need(SPLEEN)
    for sub in ("imagesTr", "labelsTr"):
        (root / sub).mkdir(parents=True, exist_ok=True)
        os.symlink(SPLEEN / sub / "spleen_2_crop.nii.gz", root / sub / "spleen_2_crop.nii.gz")
    (root / "dataset.json").write_text(json.dumps({
        "name": "Spleen", "modality": {"0": "CT"}, "labels": {"0": "background", "1": "spleen"},
        "numTraining": 1, "training": [{"image": "./imagesTr/spleen_2_crop.nii.gz",
                                        "label": "./labelsTr/spleen_2_crop.nii.gz"}]}))
    return root


def nnunet_spine(root: Path, contrasts=("T1w", "T2w", "T2star")) -> Path:
    """The real spinal-cord MR subject in the nnU-Net v2 raw layout, its contrasts as channels _0000.."""
    need(SPINE)
    (root / "imagesTr").mkdir(parents=True)
    (root / "labelsTr").mkdir()
    for c, contrast in enumerate(contrasts):
        os.symlink(SPINE / f"sub-unf01_{contrast}.nii.gz", root / "imagesTr" / f"unf01_{c:04d}.nii.gz")
    os.symlink(SPINE / "sub-unf01_T2w_seg-manual.nii.gz", root / "labelsTr" / "unf01.nii.gz")
    (root / "dataset.json").write_text(json.dumps({
        "channel_names": {str(c): name for c, name in enumerate(contrasts)}, "labels": {"background": 0, "cord": 1},
        "numTraining": 1, "file_ending": ".nii.gz"}))
    return root


def config_for(root: Path, cache: Path, num_classes: int = 2, **overrides):
    """configs/demo.py pointed at a dataset folder, with overrides given as key=value pairs."""
    values = {"data.source": "msd", "data.root": str(root), "data.cache_dir": str(cache), "data.num_val": 0,
              "data.num_test": 0, "model.num_classes": num_classes, **overrides}
    return load_config("demo", [f"{k}={v}".replace(" ", "") if isinstance(v, tuple) else f"{k}={v}"
                                for k, v in values.items()])


TOTALSEG = SHARED / "totalseg_example_ct"


def totalseg_ct(root: Path) -> Path:
    """The real TotalSegmentator abdominal CT (3 mm) and its 117-class label map, Decathlon layout."""
    need(TOTALSEG)
    names = json.loads((TOTALSEG / "labels.json").read_text())["label_map_total_v2"]
    for sub, source in (("imagesTr", "example_ct_sm.nii.gz"), ("labelsTr", "example_seg.nii.gz")):
        (root / sub).mkdir(parents=True, exist_ok=True)
        os.symlink(TOTALSEG / source, root / sub / "s0001.nii.gz")
    (root / "dataset.json").write_text(json.dumps({
        "modality": {"0": "CT"}, "labels": {"0": "background", **names},
        "training": [{"image": "./imagesTr/s0001.nii.gz", "label": "./labelsTr/s0001.nii.gz"}]}))
    return root


DCMQI = SHARED / "dicom_ct_liver_seg_dcmqi"
PYRADIOMICS = SHARED / "pyradiomics_testcases"


def dicom_liver(root: Path) -> Path:
    """The real 3-slice DICOM CT series with its DICOM SEG of the liver, listed in a dataset.json."""
    need(DCMQI)
    root.mkdir(parents=True)
    os.symlink(DCMQI / "ct", root / "ct")
    os.symlink(DCMQI / "seg", root / "seg")
    (root / "dataset.json").write_text(json.dumps({
        "modality": {"0": "CT"}, "labels": {"0": "background", "1": "liver"},
        "training": [{"case": "janct000", "image": "./ct", "label": "./seg/liver.dcm"}]}))
    return root


def nrrd_radiomics(root: Path) -> Path:
    """The real pyradiomics brain and breast MR cases as NRRD image/label pairs."""
    need(PYRADIOMICS)
    root.mkdir(parents=True)
    os.symlink(PYRADIOMICS / "nrrd", root / "nrrd")
    (root / "dataset.json").write_text(json.dumps({
        "modality": {"0": "MR"}, "labels": {"0": "background", "1": "lesion"},
        "training": [{"image": f"./nrrd/{name}_image.nrrd", "label": f"./nrrd/{name}_label.nrrd", "case": name}
                     for name in ("brain1", "breast1")]}))
    return root


ISBI = SHARED / "isbi2012_em_membrane"
CXR = SHARED / "cxr_lung_covid_hannover"
DSB = SHARED / "dsb2018_nuclei"
AXON = SHARED / "axondeepseg_sem_axon_myelin"
SPINE_CONTRASTS = ("T1w", "T2w", "T2star")


def image_folder_subset(source: Path, root: Path, names, image_dir="images", mask_dir="labels",
                        mask_name=lambda image: image.stem + ".png") -> Path:
    """Links to a few images of a 2D sample folder and their masks, in the same layout."""
    need(source)
    (root / image_dir).mkdir(parents=True)
    (root / mask_dir).mkdir()
    for name in names:
        image = source / image_dir / name
        os.symlink(image, root / image_dir / name)
        os.symlink(source / mask_dir / mask_name(image), root / mask_dir / mask_name(image))
    return root


def msd_spinalcord_contrasts(root: Path) -> Path:
    """The real spinal-cord subject's three contrasts as three Decathlon cases, each with its own mask
    (configs/fetal_brain_unet.py's stand-in)."""
    need(SPINE)
    for sub in ("imagesTr", "labelsTr"):
        (root / sub).mkdir(parents=True)
    training = []
    for contrast in SPINE_CONTRASTS:
        os.symlink(SPINE / f"sub-unf01_{contrast}.nii.gz", root / "imagesTr" / f"unf01_{contrast}.nii.gz")
        os.symlink(SPINE / f"sub-unf01_{contrast}_seg-manual.nii.gz", root / "labelsTr" / f"unf01_{contrast}.nii.gz")
        training.append({"image": f"./imagesTr/unf01_{contrast}.nii.gz",
                         "label": f"./labelsTr/unf01_{contrast}.nii.gz"})
    (root / "dataset.json").write_text(json.dumps({
        "modality": {"0": "MR"}, "labels": {"0": "background", "1": "cord"}, "training": training}))
    return root
