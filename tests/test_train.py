import json
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import nibabel as nib
import numpy as np
import pytest

from jaxseg.config import ConfigError, load_config
from jaxseg.core.mesh import global_batch, make_mesh
from jaxseg.data.datasets import open_dataset
from jaxseg.data.pipeline import training_data
from jaxseg.train.build import build_state
from jaxseg.train.checkpoint import Checkpoints
from jaxseg.train.loop import fit
from jaxseg.train.objective import make_loss_fn
from jaxseg.train.restore import restore
from jaxseg.train.step import compile_train_step
from tests.conftest import tiny_overrides

REPO = Path(__file__).resolve().parent.parent


def _source(config, tmp_path):
    index, splits = open_dataset(config, tmp_path)
    return training_data(config, tmp_path, index, splits["train"], 2)


def test_slice_source_shapes_and_padding(tiny_config, tmp_path):
    source = _source(tiny_config, tmp_path)
    sample = source.sampler.sample(source.sampler.elements[0], np.random.default_rng(0))
    assert source.sample_shape == (32, 32)
    assert sample["image"].shape == (32, 32, 1) and sample["image"].dtype == np.float32
    assert sample["label"].shape == (32, 32) and sample["label"].dtype == np.int32
    assert -1.0 <= sample["image"].min() and sample["image"].max() <= 1.0


def test_train_steps_lower_the_loss_on_a_fixed_batch(phantom_root, tmp_path):
    tiny_config = load_config("demo", tiny_overrides(
        phantom_root, **{"optimizer.learning_rate": 0.01, "optimizer.schedule": "constant"}))
    mesh = make_mesh()
    source = _source(tiny_config, tmp_path)
    batch = global_batch(next(source.batches(4, seed=0)), mesh)
    state = build_state(tiny_config, mesh, source.sample_shape)
    step = compile_train_step(make_loss_fn(tiny_config.loss), mesh)
    losses = []
    for _ in range(20):
        state, metrics = step(state, batch)
        losses.append(float(metrics["loss"]))
    assert all(np.isfinite(losses))
    assert losses[-1] < 0.7 * losses[0]
    assert int(state.step) == 20


def test_checkpoint_restore_gives_identical_state(tiny_config, tmp_path):
    mesh = make_mesh()
    state = build_state(tiny_config, mesh)
    state = state.replace(step=jnp.asarray(7), params=jax.tree.map(lambda p: p + 0.5, state.params))
    store = Checkpoints(tmp_path / "ck")
    store.save(7, state, {"position": 3}, tiny_config, {"val_dice": 0.5})
    store.wait()
    fresh = build_state(tiny_config, mesh)
    result = store.restore(7, lambda _: fresh)
    restored = result.state
    assert result.data_state == {"position": 3} and result.step == 7
    assert int(restored.step) == 7
    for a, b in zip(jax.tree.leaves(state.params), jax.tree.leaves(restored.params)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    for a, b in zip(jax.tree.leaves(state.opt_state), jax.tree.leaves(restored.opt_state)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert store.restore_config(7).to_dict() == tiny_config.to_dict()
    store.close()


def test_best_checkpoint_is_kept_with_the_latest(tiny_config, tmp_path):
    state = build_state(tiny_config, make_mesh())
    store = Checkpoints(tmp_path / "checkpoints", keep=1)
    for step, dice in zip((1, 2, 3, 4), (0.5, 0.9, 0.6, 0.7)):
        store.save(step, state.replace(step=jnp.asarray(step)), {}, tiny_config, {"val_dice": dice})
    store.save(5, state.replace(step=jnp.asarray(5)), {}, tiny_config)  # no validation at this step
    store.close()
    store = Checkpoints(tmp_path / "checkpoints")
    assert store.manager.all_steps() == [2, 5]
    assert store.best_step() == 2 and store.metrics(2) == {"val_dice": 0.9}
    store.close()
    restored_run = restore(tmp_path)
    config, restored, step = restored_run.config, restored_run.state, restored_run.step
    assert step == 2 and int(restored.step) == 2
    assert config.to_dict() == tiny_config.to_dict()


def test_tiny_end_to_end_with_the_cli(phantom_root, tmp_path):
    run = tmp_path / "run"
    overrides = [f"--config.{o}" for o in tiny_overrides(phantom_root)]
    subprocess.run([sys.executable, "-m", "jaxseg", "train", "--config", "configs/demo.py", "--workdir", str(run),
                    *overrides], check=True, cwd=REPO, capture_output=True, timeout=600)
    result = subprocess.run([sys.executable, "-m", "jaxseg", "evaluate", "--workdir", str(run)],
                            check=True, cwd=REPO, capture_output=True, text=True, timeout=600)
    summary = json.loads((run / "eval" / "summary.json").read_text())
    assert set(summary) == {"task", "checkpoints", "split", "distance_unit", "metric_per_case", "mean",
                            "foreground_mean", "n_cases", "n_failed", "failed_cases"}
    assert summary["distance_unit"] == "mm" and (summary["n_cases"], summary["n_failed"]) == (1, 0)
    assert len(summary["metric_per_case"]) == 1
    assert set(summary["mean"]) == {"liver", "spleen", "kidney", "spine"}
    assert 0.0 <= summary["foreground_mean"]["Dice"] <= 1.0
    assert (run / "eval" / "overlays.png").stat().st_size > 10_000
    assert "| **mean** |" in (run / "eval" / "summary.md").read_text()
    assert "| 50% |" in (run / "eval" / "summary.md").read_text()
    assert "| **mean** |" in result.stdout
    assert set(summary["mean"]["liver"]) == {"Dice", "IoU", "HD95", "ASSD"}
    csv_lines = (run / "eval" / "per_case.csv").read_text().splitlines()
    assert csv_lines[0] == "case_id,class,Dice,IoU,HD95,ASSD,error" and len(csv_lines) == 1 + 4
    # The prediction reopens on the label's grid, in the label file's own (LPS) orientation.
    entry = summary["metric_per_case"][0]
    prediction, label = nib.load(entry["prediction_file"]), nib.load(entry["reference_file"])
    np.testing.assert_allclose(prediction.affine, label.affine)
    assert prediction.shape == label.shape and nib.aff2axcodes(prediction.affine) == ("L", "P", "S")
    predicted = np.asarray(prediction.dataobj)
    reference = np.asarray(label.dataobj)
    liver_dice = 2 * ((predicted == 1) & (reference == 1)).sum() / ((predicted == 1).sum() + (reference == 1).sum())
    assert liver_dice == pytest.approx(summary["metric_per_case"][0]["metrics"]["liver"]["Dice"])
    # `jaxseg predict` on the same image file gives the same label map.
    image_file = str(entry["reference_file"]).replace("labelsTr", "imagesTr")
    subprocess.run([sys.executable, "-m", "jaxseg", "predict", "--checkpoint", str(run), image_file,
                    str(tmp_path / "p.nii.gz")], check=True, cwd=REPO, capture_output=True, timeout=600)
    again = nib.load(tmp_path / "p.nii.gz")
    np.testing.assert_array_equal(np.asarray(again.dataobj), predicted)
    np.testing.assert_allclose(again.affine, label.affine)
    # The same image as a DICOM series folder: same labels at the same world positions.
    series = _as_dicom_series(image_file, tmp_path / "dicom")
    subprocess.run([sys.executable, "-m", "jaxseg", "predict", "--checkpoint", str(run), str(series),
                    str(tmp_path / "d.nii.gz")], check=True, cwd=REPO, capture_output=True, timeout=600)
    from_dicom = nib.as_closest_canonical(nib.load(tmp_path / "d.nii.gz"))
    from_nifti = nib.as_closest_canonical(again)
    np.testing.assert_allclose(from_dicom.affine, from_nifti.affine, atol=1e-4)
    np.testing.assert_array_equal(np.asarray(from_dicom.dataobj), np.asarray(from_nifti.dataobj))


def _as_dicom_series(nifti_file, folder):
    """Write an LPS-stored NIfTI CT (int16 HU) as a classic DICOM series with the same geometry."""
    from tests.io_samples import make_slice

    image = nib.load(nifti_file)
    assert nib.aff2axcodes(image.affine) == ("L", "P", "S")
    hu = np.asarray(image.dataobj)
    (sx, sy, _), affine = image.header.get_zooms(), image.affine
    folder.mkdir()
    for k in range(hu.shape[2]):
        x, y, z, _ = affine @ np.array([0, 0, k, 1.0])
        pixels = (hu[:, :, k].T.astype(np.int32) + 1024).astype(np.uint16)  # rows run along j (P), columns along i (L)
        ds = make_slice(pixels, (-x, -y, z), series_uid="1.2.826.0.1.3680043.8.498.1", instance=k + 1,
                        spacing=(float(sy), float(sx)), thickness=float(image.header.get_zooms()[2]))
        ds.BitsStored, ds.HighBit = 16, 15
        ds.save_as(folder / f"IM{k:04d}.dcm", enforce_file_format=True)
    return folder


def test_fusion_of_a_run_with_itself_and_inference_overrides(phantom_root, tmp_path):
    from jaxseg.evaluate import evaluate_runs

    fit(load_config("demo", tiny_overrides(phantom_root)), tmp_path / "run", progress=False)
    single = evaluate_runs([tmp_path / "run"], out=tmp_path / "single", progress=False)
    fused = evaluate_runs([tmp_path / "run", tmp_path / "run"], out=tmp_path / "fused", progress=False)
    assert fused["mean"] == single["mean"]
    windowed = evaluate_runs([tmp_path / "run"], out=tmp_path / "windowed", progress=False, overrides=[
        "inference.mode=sliding_window", "inference.roi_size=(16,16)", "inference.mirror_axes=(0,1)",
        "inference.largest_component=true"])
    assert set(windowed["mean"]) == set(single["mean"])
    with pytest.raises(ConfigError, match="only inference"):
        evaluate_runs([tmp_path / "run"], overrides=["train.steps=3"])
