"""Multi-process training on one machine, and spatial partitioning of 3D inputs over devices."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from jaxseg.config import ConfigError, load_config
from jaxseg.core.mesh import make_mesh, mesh_from_config
from jaxseg.train.checkpoint_info import checkpoint_info
from jaxseg.train.restore import restore
from tests.conftest import tiny_overrides, wait_for

REPO = Path(__file__).resolve().parent.parent
LAUNCHER = REPO / "launch" / "local_multiprocess.sh"
STEPS = 60


def _train_args(workdir: Path, phantom_root: Path | str, steps: int = STEPS, checkpoint_every: int = 10) -> list[str]:
    overrides = tiny_overrides(phantom_root, **{"data.batch_size": 8, "train.steps": steps, "train.log_every": 1,
                                                "train.val_every": 1000, "train.checkpoint_every": checkpoint_every})
    return [sys.executable, "-m", "jaxseg", "-v", "train", "--config", str(REPO / "configs" / "demo.py"),
            "--workdir", str(workdir), *[f"--config.{o}" for o in overrides]]


def _four_cpu_devices() -> dict[str, str]:
    return {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4", "JAX_PLATFORMS": "cpu"}


def _losses(workdir: Path) -> list[float]:
    return [json.loads(line)["loss"] for line in (workdir / "metrics.jsonl").read_text().splitlines()]


def _launch(processes: int, devices: int, args: list[str], logs: Path | None = None) -> subprocess.Popen:
    """The launcher; its logs go to `logs`, by default to the run's WORKDIR/logs."""
    env = {**os.environ, "JAXSEG_COORDINATOR_PORT": str(20000 + os.getpid() % 20000)}
    env = {**env, "JAXSEG_LOG_DIR": str(logs)} if logs else {k: v for k, v in env.items() if k != "JAXSEG_LOG_DIR"}
    return subprocess.Popen(["bash", str(LAUNCHER), str(processes), str(devices), "--", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_sharded_and_multi_process_runs_train_like_one_device(phantom_root, tmp_path):
    """Data parallel over 4 forced CPU devices, and over 2 processes x 2 devices, follows the 1-device loss
    trajectory of the same global batches. The multi-process job starts on a workdir that does not exist:
    process 0 generates the phantoms (the same as phantom_root's) and prepares them while the other waits.

    2 x 2 and 1 x 4 are bitwise equal (train.exact_reductions: integer sums across devices, whose
    order does not matter); 1 device against 4 within float tolerance (each device sums its own
    samples first).
    """
    script = f"""
import jax
from jaxseg.config import load_config
from jaxseg.train.loop import fit
from tests.conftest import tiny_overrides
assert jax.device_count() == 4
for devices in (1, 4):
    config = load_config("demo", tiny_overrides({str(phantom_root)!r}, **{{"mesh.data": devices, "data.batch_size": 8,
                                                   "train.steps": 8, "train.log_every": 1, "train.val_every": 8}}))
    fit(config, {str(tmp_path)!r} + f"/run{{devices}}", progress=False)
"""
    subprocess.run([sys.executable, "-c", script], cwd=REPO, env=_four_cpu_devices(), capture_output=True, text=True,
                   timeout=600, check=True)
    job = _launch(2, 2, _train_args(tmp_path / "run2x2", "", steps=8, checkpoint_every=8))
    assert job.wait(timeout=600) == 0, job.stderr.read().decode()[-3000:]
    assert json.loads((tmp_path / "run2x2" / "phantom" / "dataset.json").read_text())["numTraining"] == 5
    assert sorted(p.name for p in (tmp_path / "run2x2" / "logs").iterdir()) == [
        "process_0.log", "process_0.pid", "process_1.log", "process_1.pid"]
    one, four, two_by_two = (_losses(tmp_path / name) for name in ("run1", "run4", "run2x2"))
    assert len(one) == len(four) == len(two_by_two) == 8
    np.testing.assert_allclose(four, one, rtol=1e-4)
    assert two_by_two == four
    assert one[-1] < one[0]
    params = [np.concatenate([np.ravel(x) for x in jax.tree.leaves(restore(tmp_path / name / "checkpoints",
                                                                          "latest").state.params)])
              for name in ("run4", "run2x2")]
    np.testing.assert_array_equal(params[1], params[0])
    # Validation at the last step: process 0 predicts the validation case, process 1 none, the scores are gathered.
    val_dice = [json.loads((tmp_path / name / "metrics.jsonl").read_text().splitlines()[-1])["val_dice"]
                for name in ("run4", "run2x2")]
    assert val_dice[1] == pytest.approx(val_dice[0], rel=1e-3)


@pytest.mark.slow
def test_killed_multi_process_job_resumes_from_its_last_checkpoint(phantom_root, tmp_path):
    """Kill one of 2 processes mid-run: the launcher stops the job, the last checkpoint is intact, and the
    relaunched job resumes from it and ends where a 1-process 4-device run ends (float tolerance)."""
    subprocess.run(_train_args(tmp_path / "single", phantom_root), env=_four_cpu_devices(), check=True,
                   capture_output=True, timeout=600)

    run = tmp_path / "multi"
    job = _launch(2, 2, _train_args(run, phantom_root), tmp_path / "logs")
    wait_for(run / "checkpoints" / "20", job)
    os.kill(int((tmp_path / "logs" / "process_1.pid").read_text()), signal.SIGKILL)
    assert job.wait(timeout=120) != 0, "the launcher must report the lost process"
    saved = sorted(int(p.name) for p in (run / "checkpoints").iterdir() if p.name.isdigit())
    assert saved and saved[-1] < STEPS, "the job finished before it could be killed"
    assert checkpoint_info(run / "checkpoints" / str(saved[-1]))["step"] == saved[-1]  # intact and readable

    job = _launch(2, 2, _train_args(run, phantom_root), tmp_path / "logs")
    assert job.wait(timeout=600) == 0, job.stderr.read().decode()[-3000:]
    assert f"resumed from step {saved[-1]}" in (tmp_path / "logs" / "process_0.log").read_text()

    single, multi = _losses(tmp_path / "single"), _losses(run)
    assert len(single) == len(multi) == STEPS
    np.testing.assert_allclose(multi, single, rtol=1e-5)
    restored_run = restore(tmp_path / "single" / "checkpoints", "latest")
    state_single, step_single = restored_run.state, restored_run.step
    restored_run = restore(run / "checkpoints", "latest")
    state_multi, step_multi = restored_run.state, restored_run.step
    assert step_single == step_multi == STEPS
    # Adam normalises each update, so the rounding differences of near-zero gradients reach single
    # weights; the parameters as a whole stay within a relative 1e-3.
    single_params = np.concatenate([np.ravel(x) for x in jax.tree.leaves(state_single.params)])
    multi_params = np.concatenate([np.ravel(x) for x in jax.tree.leaves(state_multi.params)])
    relative = np.linalg.norm(multi_params - single_params) / np.linalg.norm(single_params)
    print(f"relative parameter difference after {STEPS} steps: {relative:.3g}")
    assert relative < 1e-3


@pytest.mark.slow  # 28 s on 2 cores
def test_spatial_partitioning_divides_per_device_memory(tmp_path):
    """Splitting the first spatial axis of a 3D batch over 4 devices: ~1/4 of the activation memory, same loss
    (benchmarks/spatial_partitioning.py at a small size)."""
    out = tmp_path / "spatial.json"
    subprocess.run([sys.executable, str(REPO / "benchmarks" / "spatial_partitioning.py"), "--size", "32",
                    "--devices", "4", "--out", str(out)], cwd=REPO, env=_four_cpu_devices(), capture_output=True,
                   timeout=600, check=True)
    rows = {row["spatial_devices"]: row for row in json.loads(out.read_text())["rows"]}
    assert sorted(rows) == [1, 2, 4]
    assert rows[4]["image_shard"] == [2, 8, 32, 32, 1]  # each device holds one slab of 8 of the 32 planes
    assert rows[4]["temp_bytes_per_device"] < 0.35 * rows[1]["temp_bytes_per_device"]
    assert rows[2]["temp_bytes_per_device"] < 0.6 * rows[1]["temp_bytes_per_device"]
    for spatial in (2, 4):
        np.testing.assert_allclose(rows[spatial]["losses"], rows[1]["losses"], rtol=1e-5)
    assert rows[1]["losses"][-1] < rows[1]["losses"][0]


def test_meshes_that_do_not_fit_are_config_errors(phantom_root):
    assert jax.device_count() == 1
    with pytest.raises(ValueError, match="'mesh.spatial' = 2 does not divide the 1 devices"):
        make_mesh(1, 2)
    config = load_config("demo", tiny_overrides(phantom_root, **{"mesh.data": 2}))
    with pytest.raises(ConfigError, match=r"'mesh.data' = 2 x 'mesh.spatial' = 1 exceed the 1 available devices"):
        mesh_from_config(config.mesh)
    with pytest.raises(ConfigError, match="mesh.spatial"):
        load_config("demo", tiny_overrides(phantom_root, **{"mesh.spatial": 0}))


@pytest.mark.parametrize("flags, message", [
    (["--coordinator", "localhost:1", "--num-processes", "2", "--process-id", "1", "--coordinator-timeout", "2"],
     "coordinator localhost:1 not reachable within 2 s"),
    (["--coordinator", "localhost:1", "--num-processes", "2"], "missing --process-id"),
    (["--coordinator", "localhost:1", "--num-processes", "2", "--process-id", "2"], "--process-id 2 is not in [0, 2)"),
])
def test_bad_multi_process_starts_fail_fast_with_a_message(flags, message, tmp_path):
    result = subprocess.run([sys.executable, "-m", "jaxseg", "train", "--config", "demo", "--workdir", str(tmp_path),
                             *flags], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and message in result.stderr, result.stderr
