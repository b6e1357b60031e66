"""Faster R-CNN end to end: a synthetic RSNA-layout DICOM dataset through `jaxseg train` and
`jaxseg evaluate`, the train step at batch > 1, and (slow) the overfitting check on real radiographs."""

import functools
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from jaxseg.cli import main
from jaxseg.config import load_config
from jaxseg.data.detection import (
    Resizing,
    cache_pixels,
    detection_splits,
    make_sample,
    pixel_cache_folder,
    read_detection_index,
    training_batches,
)

CR_STORAGE = "1.2.840.10008.5.1.4.1.1.1"  # Computed Radiography Image Storage
HANNOVER = Path(__file__).resolve().parents[2] / "shared" / "data" / "cxr_lung_covid_hannover"
# (patientId, boxes x, y, width, height): RSNA writes one row per box, and one Target 0 row for none.
CASES = [("p0", [(10, 20, 30, 40)]), ("p1", [(60, 50, 40, 30), (8, 8, 20, 30)]), ("p2", []),
         ("p3", [(40, 30, 50, 60)]), ("p4", []), ("p5", [(20, 60, 30, 30)]), ("p6", [(70, 10, 30, 50)]),
         ("p7", [])]
TINY = ["detection.canvas=(64,64)", "detection.min_size=64", "detection.max_size=64", "detection.width=0.125",
        "detection.rpn_features=8", "detection.fc_features=16", "detection.anchor_scales=(16.0,32.0,64.0)",
        "detection.rpn_pre_nms=(200,100)", "detection.rpn_post_nms=(50,20)", "detection.rpn_samples=64",
        "detection.roi_samples=32", "detection.score_threshold=0.0", "data.batch_size=2", "data.workers=0",
        "data.num_val=1", "data.num_test=2", "train.steps=4", "train.log_every=2", "train.val_every=4",
        "train.checkpoint_every=2", "inference.batch_size=2"]


def write_radiograph(path: Path, pixels: np.ndarray) -> None:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CR_STORAGE
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = CR_STORAGE, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.PatientID = "CR", path.stem
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = pixels.astype(np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)


def write_rsna_dataset(root: Path, shape: tuple[int, int]) -> Path:
    """The radiographs of CASES (DICOM of `shape` (rows, columns), bright boxes on noise; 3 without
    boxes) and their box CSV, in the RSNA layout under `root`."""
    (root / "stage_2_train_images").mkdir()
    rng = np.random.default_rng(0)
    rows = ["patientId,x,y,width,height,Target"]
    for patient, boxes in CASES:
        pixels = rng.integers(0, 400, shape)
        for x, y, w, h in boxes:
            pixels[y:y + h, x:x + w] += 2000
            rows.append(f"{patient},{x},{y},{w},{h},1")
        if not boxes:
            rows.append(f"{patient},,,,,0")
        write_radiograph(root / "stage_2_train_images" / f"{patient}.dcm", pixels)
    (root / "stage_2_train_labels.csv").write_text("\n".join(rows) + "\n")
    return root


@pytest.fixture(scope="module")
def rsna_root(tmp_path_factory) -> Path:
    """8 radiographs of 128 x 128 pixels in the RSNA layout (`write_rsna_dataset`)."""
    return write_rsna_dataset(tmp_path_factory.mktemp("rsna"), (128, 128))


def test_rsna_index_keeps_negatives_and_pads_batches(rsna_root):
    config = load_config("pneumonia_faster_rcnn", [f"data.root={rsna_root}", *TINY])
    images = read_detection_index(config)
    assert [i.case_id for i in images] == [p for p, _ in CASES]
    assert [len(i.boxes) for i in images] == [len(b) for _, b in CASES]
    np.testing.assert_array_equal(images[1].boxes, [[60, 50, 100, 80], [8, 8, 28, 38]])
    batch = next(training_batches(config, images, 4))
    assert batch["image"].shape == (4, 64, 64, 1) and batch["boxes"].shape == (4, 4, 4)
    assert set(batch["box_valid"].sum(1)) <= {0, 1, 2} and not batch["box_valid"][:, 2:].any()  # padded to 4
    assert (batch["image_size"] == 64).all() and np.allclose(batch["scale"], 0.5)
    # a box of 128-pixel coordinates at half scale, flipped or not
    widths = (batch["boxes"][..., 2] - batch["boxes"][..., 0])[batch["box_valid"]]
    assert set(np.round(widths * 2).astype(int)) <= {w for _, b in CASES for _, _, w, _ in b}


# A 4-step detector on 4 RSNA images (recorded on a CPU): losses at steps 2 and 4, validation AP@0.5, and the
# test split's (mean AP@0.5, RSNA mAP).
GOLDEN_RSNA = {"losses": [1.4476851, 1.3940473], "val_ap50": 0.0, "test": (0.0, 0.0)}  # 4 steps find no box yet


def test_rsna_dicoms_train_and_evaluate_end_to_end(rsna_root, tmp_path, capsys):
    rsna_root = Path(shutil.copytree(rsna_root, tmp_path / "rsna"))  # its images are damaged below
    workdir = tmp_path / "run"
    overrides = [f"--config.{o}" for o in [f"data.root={rsna_root}", *TINY]]
    assert main(["train", "--config", "pneumonia_faster_rcnn", "--workdir", str(workdir), *overrides]) == 0
    log = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [2, 4]
    assert all(np.isfinite(r[k]) for r in log for k in ("loss", "rpn_cls", "rpn_box", "roi_cls", "roi_box"))
    assert [r["loss"] for r in log] == pytest.approx(GOLDEN_RSNA["losses"], rel=1e-4)
    assert log[-1]["val_ap50"] == pytest.approx(GOLDEN_RSNA["val_ap50"], abs=1e-6)
    # The training images were decoded once into the run's prepared cache (the golden losses are unchanged).
    config = load_config("pneumonia_faster_rcnn", [f"data.root={rsna_root}", *TINY])
    train = detection_splits(config, read_detection_index(config))["train"]
    assert sorted(p.name for p in pixel_cache_folder(config, workdir).iterdir()) == sorted(
        f"{image.case_id}.npy" for image in train)
    assert main(["evaluate", "--workdir", str(workdir), "--split", "test"]) == 0
    summary = json.loads((workdir / "eval" / "summary.json").read_text())
    assert summary["task"] == "detection" and summary["split"] == "test" and summary["images"] == 2
    assert set(summary["AP50"]) == {"pneumonia"} and summary["checkpoint"].endswith("/4")
    assert (summary["mean_AP50"], summary["mean_rsna_mAP"]) == pytest.approx(GOLDEN_RSNA["test"], abs=1e-6)
    for entry in summary["per_image"]:
        assert len(entry["boxes"]) == len(entry["scores"]) == len(entry["labels"]) <= 100
    assert (summary["n_cases"], summary["n_failed"], summary["failed_cases"]) == (2, 0, [])

    # An unreadable test image: the scores cover the other, the report lists it, the exit status is 1.
    first, second = (rsna_root / "stage_2_train_images" / f"{e['image']}.dcm" for e in summary["per_image"])
    first.write_bytes(b"not a DICOM file")
    assert main(["evaluate", "--workdir", str(workdir), "--split", "test", "--out", str(tmp_path / "one")]) == 1
    partial = json.loads((tmp_path / "one" / "summary.json").read_text())
    assert (partial["images"], partial["n_cases"], partial["n_failed"]) == (2, 1, 1)
    assert [e["image"] for e in partial["per_image"]] == [second.stem]
    [failure] = partial["failed_cases"]
    assert (failure["case_id"], failure["file"]) == (first.stem, str(first))
    assert failure["reason"] == "not a DICOM file (no 'DICM' marker after the 128-byte preamble)"
    assert f"Scores over 1 images; 1 failed and are not in them:\n- {first.stem}: {first}: " in capsys.readouterr().out
    second.write_bytes(b"")
    capsys.readouterr()
    assert main(["evaluate", "--workdir", str(workdir), "--split", "test", "--out", str(tmp_path / "none")]) == 2
    assert f"jaxseg: error: no image of split 'test' of {rsna_root} could be evaluated: {first.stem} (" in (
        capsys.readouterr().err)
    assert not (tmp_path / "none").exists()


def test_cached_pixels_give_the_same_samples_and_are_decoded_once(rsna_root, tmp_path):
    config = load_config("pneumonia_faster_rcnn", [f"data.root={rsna_root}", *TINY])
    images, resizing = read_detection_index(config), Resizing.from_config(config)
    folder = pixel_cache_folder(config, tmp_path)
    cached = cache_pixels(images, folder)
    for plain, mapped in zip(images, cached):
        assert isinstance(np.load(mapped.cached, mmap_mode="r"), np.memmap)
        for key, value in make_sample(plain, resizing, flip=True).items():
            np.testing.assert_array_equal(make_sample(mapped, resizing, flip=True)[key], value)
    written = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    cache_pixels(images, folder)
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == written  # nothing decoded again


def test_train_step_compiles_once_for_batches_of_four(rsna_root):
    from jaxseg.core.mesh import global_batch, make_mesh
    from jaxseg.train.detection_state import build_detection_state
    from jaxseg.train.detection_step import detection_train_step
    from jaxseg.train.step import compile_step

    config = load_config("pneumonia_faster_rcnn", [f"data.root={rsna_root}", *TINY,
                                                   "optimizer.warmup_steps=0", "detection.frozen_convs=2"])
    mesh = make_mesh()
    state = build_detection_state(config, mesh)
    frozen = np.asarray(state.params["extractor"]["conv1_2"]["kernel"])
    trained = np.asarray(state.params["extractor"]["conv2_1"]["kernel"])
    step = compile_step(functools.partial(detection_train_step, d=config.detection), mesh)
    batches = training_batches(config, read_detection_index(config), 4)
    for _ in range(2):
        batch = next(batches)
        state, metrics = step(state, global_batch(batch, mesh))
    assert batch["image"].shape[0] == 4 and step._cache_size() == 1
    assert np.isfinite(float(metrics["loss"])) and int(state.step) == 2
    np.testing.assert_array_equal(state.params["extractor"]["conv1_2"]["kernel"], frozen)  # frozen convs stay
    assert not np.array_equal(np.asarray(state.params["extractor"]["conv2_1"]["kernel"]), trained)


@pytest.mark.slow
def test_cxr_lung_boxes_overfit_to_ap50_above_half(tmp_path):
    """Overfitting sanity check on the 20 real radiographs (configs/cxr_lung_boxes.py, 192 px, CPU)."""
    if not (HANNOVER / "boxes.csv").exists():
        pytest.skip(f"shared sample data {HANNOVER} is absent")
    workdir = tmp_path / "cxr"
    start = time.perf_counter()
    assert main(["train", "--config", "cxr_lung_boxes", "--workdir", str(workdir),
                 f"--config.data.root={HANNOVER}"]) == 0
    assert main(["evaluate", "--workdir", str(workdir), "--split", "train"]) == 0
    log = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    summary = json.loads((workdir / "eval" / "summary.json").read_text())
    print(f"loss {log[0]['loss']:.3f} -> {log[-1]['loss']:.3f}, AP@0.5 {summary['mean_AP50']:.3f}, "
          f"RSNA mAP {summary['mean_rsna_mAP']:.3f}, {time.perf_counter() - start:.0f} s")
    assert log[-1]["loss"] < 0.7 * log[0]["loss"]
    assert summary["images"] == 20 and summary["mean_AP50"] >= 0.5
