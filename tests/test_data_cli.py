"""`jaxseg prepare` and `jaxseg bench data` on the tiny phantoms."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from jaxseg.bench import bench_data
from jaxseg.config import load_config
from tests.conftest import tiny_overrides

REPO = Path(__file__).resolve().parent.parent


def _prepare(phantom_root, cache, *extra):
    overrides = [f"--config.{o}" for o in tiny_overrides(phantom_root, **{"data.cache_dir": str(cache)})]
    result = subprocess.run([sys.executable, "-m", "jaxseg", "prepare", "--config", "configs/demo.py", *overrides,
                             *extra], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_prepare_command_reports_and_is_idempotent(phantom_root, tmp_path):
    first = json.loads(_prepare(phantom_root, tmp_path / "cache", "--json"))
    assert first["cases"] == 5 and len(first["prepared"]) == 5 and not first["failed"]
    assert Path(first["folder"]).parent == tmp_path / "cache"
    again = _prepare(phantom_root, tmp_path / "cache")
    assert "5 cases, 0 prepared now, 5 already complete, 0 failed" in again


def test_prepare_needs_a_cache_place(phantom_root):
    overrides = [f"--config.{o}" for o in tiny_overrides(phantom_root)]
    result = subprocess.run([sys.executable, "-m", "jaxseg", "prepare", "--config", "configs/demo.py", *overrides],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "'data.cache_dir' is empty" in result.stderr


def test_bench_data_puts_the_pipeline_next_to_the_train_step(phantom_root, tmp_path):
    config = load_config("demo", tiny_overrides(phantom_root, **{"augment.rotate_p": 0.5, "augment.flip_p": 0.5}))
    result = bench_data(config, tmp_path, batches=4, steps=2)
    assert result["sampler"] == "slices" and result["sample_shape"] == [32, 32, 1]
    assert result["batch_mb"] == pytest.approx(4 * 32 * 32 * 8 / 1e6)
    assert result["data_samples_per_s"] > 0 and result["train_samples_per_s"] > 0
    assert result["ratio"] == pytest.approx(result["data_samples_per_s"] / result["train_samples_per_s"], rel=0.01)
    assert result["data_mb_per_s"] == pytest.approx(result["data_samples_per_s"] * result["batch_mb"] / 4, rel=0.01)



@pytest.mark.parametrize("name", sorted(p.stem for p in (REPO / "configs").glob("*.py")))
def test_shipped_configs_name_no_data_location(name):
    assert load_config(name).data.root == ""


@pytest.mark.parametrize("command, name, what", [
    ("prepare", "cxr_lungs_unet", "the dataset folder ('data.source' = 'image_folders')"),
    ("train", "isbi_membranes_unet", "the dataset folder ('data.source' = 'image_folders')"),
    ("prepare", "nuclei_unet", "the dataset folder ('data.source' = 'dsb2018')"),
    ("train", "cxr_lung_boxes", "the folder of the images and their box CSV"),
])
def test_a_config_without_data_root_says_to_set_it(command, name, what, tmp_path, capsys):
    from jaxseg.cli import main

    assert main([command, "--config", name, "--workdir", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err == (f"jaxseg: error: set data.root (--config.data.root=FOLDER; jaxseg evaluate: "
                                       f"--data FOLDER) to {what}: config '{name}' reads a dataset and its "
                                       "'data.root' is empty\n")
    assert main([command, "--config", name, "--workdir", str(tmp_path / "run"),
                 f"--config.data.root={tmp_path / 'absent'}"]) == 2
    assert f"config key 'data.root' = '{tmp_path / 'absent'}' is not a folder" in capsys.readouterr().err
