"""Faults a batch job meets: a second run on the same workdir, a changed config, damaged or
non-finite checkpoints, a cut metrics line, a stop at a validation step."""

import hashlib
import json
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from jaxseg.config import ConfigError, load_config
from jaxseg.core.mesh import make_mesh
from jaxseg.train.build import build_state
from jaxseg.train.checkpoint import Checkpoints, CheckpointsDamaged, IncompatibleCheckpoint
from jaxseg.train.checkpoint_info import params_digest
from jaxseg.train.loop import fit
from jaxseg.train.restore import restore
from jaxseg.train.run_folder import WorkdirInUse, locked_workdir
from tests.conftest import tiny_overrides, wait_for

REPO = Path(__file__).resolve().parent.parent


def _command(workdir, phantom_root, *flags, **extra):
    overrides = tiny_overrides(phantom_root, **extra)
    return [sys.executable, "-m", "jaxseg", "train", "--config", "configs/demo.py", "--workdir", str(workdir),
            *[f"--config.{o}" for o in overrides], *flags]


def _run(command, timeout=300):
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=timeout)


def _logged_steps(workdir):
    return [json.loads(line)["step"] for line in (workdir / "metrics.jsonl").read_text().splitlines()]


def _file_digests(folder):
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def finished_run(phantom_root, tmp_path_factory):
    """A 6-step run with checkpoints at 2, 4 (validated) and 6 (validated); copy it before changing it."""
    workdir = tmp_path_factory.mktemp("finished") / "run"
    overrides = tiny_overrides(phantom_root, **{"train.keep_checkpoints": 3, "optimizer.schedule": "constant"})
    fit(load_config("demo", overrides), workdir, progress=False)
    assert sorted(Checkpoints(workdir / "checkpoints").all_steps()) == [2, 4, 6]
    return workdir, overrides


@pytest.fixture
def run_copy(finished_run, tmp_path):
    workdir, overrides = finished_run
    shutil.copytree(workdir, tmp_path / "run")
    return tmp_path / "run", overrides


def _flip_a_bit(step_dir: Path, part: str) -> str:
    """Flip one bit of the first array of `part` ("params" or "opt_state") in the step's state, as storage
    damage that still decodes would: rewritten through orbax, so only the checksum can tell. Returns its path."""
    restored_run = restore(step_dir.parent, int(step_dir.name))
    state = restored_run.state
    leaves, treedef = jax.tree_util.tree_flatten_with_path(state)
    index = next(i for i, (path, leaf) in enumerate(leaves)
                 if jax.tree_util.keystr(path).startswith(f".{part}") and leaf.ndim == 4)
    path, leaf = leaves[index]
    value = np.array(leaf)
    value.reshape(-1).view(np.uint32)[0] ^= 1 << 20
    values = [jax.device_put(value, leaf.sharding) if i == index else x for i, (_, x) in enumerate(leaves)]
    checkpointer = ocp.StandardCheckpointer()
    checkpointer.save(step_dir.parent / "rewritten", jax.tree.unflatten(treedef, values))
    checkpointer.wait_until_finished()
    shutil.rmtree(step_dir / "state")
    (step_dir.parent / "rewritten").rename(step_dir / "state")
    return jax.tree_util.keystr(path)


def test_a_second_training_on_a_workdir_exits_2_and_the_first_logs_each_step_once(phantom_root, tmp_path):
    first = subprocess.Popen(_command(tmp_path, phantom_root, **{"train.steps": 3000, "train.log_every": 1,
                                                                 "train.val_every": 1000,
                                                                 "train.checkpoint_every": 1000}),
                             cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_for(tmp_path / "metrics.jsonl", first)
    second = _run(_command(tmp_path, phantom_root, **{"train.steps": 3000}))
    first.send_signal(signal.SIGTERM)
    _, stderr = first.communicate(timeout=120)
    assert first.returncode == 128 + signal.SIGTERM, stderr.decode()
    assert second.returncode == 2, second.stderr
    assert f"{tmp_path} is in use by {first.pid} on {socket.gethostname()} since " in second.stderr
    assert "Traceback" not in second.stderr
    steps = _logged_steps(tmp_path)
    assert steps == list(range(1, len(steps) + 1))


def test_the_lock_dies_with_its_holder(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", f"""
import sys, time
from pathlib import Path
from jaxseg.train.run_folder import locked_workdir
with locked_workdir(Path({str(tmp_path)!r})):
    print("locked", flush=True)
    time.sleep(600)
"""], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline() == "locked\n"
    with pytest.raises(WorkdirInUse, match=f"is in use by {holder.pid} on "):
        with locked_workdir(tmp_path):
            pass
    holder.kill()
    holder.wait()
    with locked_workdir(tmp_path):  # the killed holder's lock is gone; its stale note does not block
        assert json.loads((tmp_path / "train.lock").read_text())["pid"] != holder.pid


def test_a_changed_config_is_refused_before_anything_is_touched(run_copy):
    workdir, overrides = run_copy
    before, log_before = _file_digests(workdir / "checkpoints"), (workdir / "metrics.jsonl").read_text()
    command = [sys.executable, "-m", "jaxseg", "train", "--config", "configs/demo.py", "--workdir", str(workdir),
               *[f"--config.{o}" for o in overrides], "--config.model.features=(8,16)",
               "--config.optimizer.learning_rate=0.01"]
    refused = _run(command)
    assert refused.returncode == 2, refused.stderr
    assert f"the config differs from the one stored in {workdir / 'checkpoints' / '6'}:" in refused.stderr
    assert "  model.features: [4, 8] -> [8, 16]\n" in refused.stderr
    assert "  optimizer.learning_rate: 0.003 -> 0.01\n" in refused.stderr
    assert "a new --workdir" in refused.stderr and "--resume-with-changed-config" in refused.stderr
    unsafe = _run(command + ["--resume-with-changed-config"])
    assert unsafe.returncode == 2
    assert "cannot change on resume" in unsafe.stderr and ": model.features\n" in unsafe.stderr
    assert _file_digests(workdir / "checkpoints") == before
    assert (workdir / "metrics.jsonl").read_text() == log_before
    assert not list((workdir / "checkpoints").glob("*.damaged*"))


def test_safe_changes_resume_only_with_the_flag_and_a_finished_run_says_so(run_copy, capsys):
    workdir, overrides = run_copy
    assert int(fit(load_config("demo", overrides), workdir, progress=False).step) == 6
    assert capsys.readouterr().out == f"run already finished at step 6 ({workdir})\n"
    changed = load_config("demo", overrides + ["optimizer.learning_rate=0.001", "train.steps=8"])
    with pytest.raises(ConfigError, match=r"optimizer.learning_rate: 0.003 -> 0.001"):
        fit(changed, workdir, progress=False)
    assert int(fit(changed, workdir, progress=False, resume_with_changed_config=True).step) == 8
    assert int(fit(load_config("demo", overrides + ["optimizer.learning_rate=0.001", "train.steps=10"]),
                   workdir, progress=False).step) == 10  # train.steps alone needs no flag
    assert _logged_steps(workdir) == [2, 4, 6, 8, 10]


@pytest.mark.parametrize("part", ["params", "opt_state"])
def test_a_flipped_bit_is_detected_and_the_previous_checkpoint_used(run_copy, finished_run, part, caplog):
    workdir, _ = run_copy
    leaf = _flip_a_bit(workdir / "checkpoints" / "6", part)
    with caplog.at_level("WARNING"):
        restored_run = restore(workdir / "checkpoints", "latest")
        state, step = restored_run.state, restored_run.step
    assert step == 4
    assert f"checkpoints/6 cannot be restored (the bytes of {leaf} do not match their checksum)" in caplog.text
    assert (workdir / "checkpoints" / "6.damaged").is_dir()
    restored_run = restore(finished_run[0] / "checkpoints", 4)
    reference = restored_run.state
    assert params_digest(state.params) == params_digest(reference.params)


def test_training_resumes_before_a_damaged_step_and_drops_a_cut_metrics_line(run_copy, caplog):
    workdir, overrides = run_copy
    _flip_a_bit(workdir / "checkpoints" / "6", "params")
    with (workdir / "metrics.jsonl").open("a") as f:
        f.write('{"step": 7, "loss": 0.5')  # a run killed while writing
    with caplog.at_level("WARNING"):
        state = fit(load_config("demo", overrides + ["train.steps=8"]), workdir, progress=False)
    assert "checkpoints/6 cannot be restored" in caplog.text
    assert "metrics.jsonl, line 4, is not a complete record" in caplog.text
    assert int(state.step) == 8 and _logged_steps(workdir) == [2, 4, 6, 8]


@pytest.mark.parametrize("item", ["metrics/metrics", "config/metadata", "checksums/metadata"])
def test_an_empty_json_part_falls_back_to_the_previous_step(run_copy, item):
    workdir, _ = run_copy
    (workdir / "checkpoints" / "6" / item).write_bytes(b"")
    assert restore(workdir / "checkpoints", "latest").step == 4
    assert (workdir / "checkpoints" / "6.damaged").is_dir()


def test_damaged_steps_fall_back_further_and_stop_when_none_is_left(run_copy):
    workdir, overrides = run_copy
    _flip_a_bit(workdir / "checkpoints" / "6", "opt_state")
    (workdir / "checkpoints" / "4" / "data_iterator" / "metadata").write_bytes(b"")
    # Prediction does not need the data iterator; training does.
    assert restore(workdir / "checkpoints", "latest").step == 4
    (workdir / "checkpoints" / "2" / "config" / "metadata").write_text('{"name": "de')
    log_before = (workdir / "metrics.jsonl").read_text()
    with pytest.raises(CheckpointsDamaged, match=r"every checkpoint in .* is damaged \(6.damaged, 4.damaged, "
                                                 r"2.damaged\)"):
        fit(load_config("demo", overrides + ["train.steps=8"]), workdir, progress=False)
    assert (workdir / "metrics.jsonl").read_text() == log_before
    assert sorted(p.name for p in (workdir / "checkpoints").iterdir()) == ["2.damaged", "4.damaged", "6.damaged"]
    info = _run([sys.executable, "-m", "jaxseg", "checkpoint-info", str(workdir)])
    assert info.returncode == 2 and "Traceback" not in info.stderr
    assert "every checkpoint in" in info.stderr and "(6.damaged, 4.damaged, 2.damaged)" in info.stderr


def test_checkpoint_every_is_independent_of_log_every(phantom_root, tmp_path):
    overrides = tiny_overrides(phantom_root, **{"train.steps": 7, "train.log_every": 3, "train.checkpoint_every": 2,
                                                "train.val_every": 1000, "train.keep_checkpoints": 10})
    fit(load_config("demo", overrides), tmp_path, progress=False)
    assert sorted(Checkpoints(tmp_path / "checkpoints").all_steps()) == [2, 4, 6, 7]
    assert _logged_steps(tmp_path) == [3, 6, 7]


def test_a_diverging_run_stops_with_exit_2_before_saving_non_finite_state(phantom_root, tmp_path):
    # Warm-up from 0 keeps step 1 finite; at step 2 the rate of 5e37 sends the weights to ~1e37, so
    # the loss of step 3 overflows.
    result = _run(_command(tmp_path, phantom_root, **{
        "optimizer.learning_rate": 1e38, "optimizer.warmup_steps": 2, "optimizer.schedule": "constant",
        "train.log_every": 1, "train.checkpoint_every": 1, "train.val_every": 1000, "train.keep_checkpoints": 10}))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert (f"training diverged: loss nan at step 3; nothing non-finite was saved: the last checkpoint, "
            f"{tmp_path / 'checkpoints' / '2'} (step 2), is finite and intact") in result.stderr
    assert sorted(Checkpoints(tmp_path / "checkpoints").all_steps()) == [1, 2]
    restored_run = restore(tmp_path / "checkpoints", 2)
    state = restored_run.state
    assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(state.params))


def test_sigterm_at_a_validation_step_records_the_validation(phantom_root, tmp_path):
    process = subprocess.Popen(_command(tmp_path, phantom_root, **{"train.steps": 3000, "train.log_every": 1,
                                                                   "train.val_every": 1,
                                                                   "train.checkpoint_every": 1000}),
                               cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_for(tmp_path / "metrics.jsonl", process)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM, stderr.decode()
    checkpoints = Checkpoints(tmp_path / "checkpoints")
    stopped = checkpoints.latest_step()
    last = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[-1])
    assert last["step"] == stopped and set(checkpoints.metrics(stopped)) == {"val_dice", "val_iou"}
    assert last["val_dice"] == checkpoints.metrics(stopped)["val_dice"]


def test_predict_falls_back_from_a_checkpoint_whose_arrays_do_not_read(run_copy, phantom_root, tmp_path):
    workdir, _ = run_copy
    store = Checkpoints(workdir / "checkpoints")
    best = store.best_step()  # what predict restores; the other validated step is the next best
    store.close()
    for item in (workdir / "checkpoints" / str(best) / "state").rglob("*"):
        if item.is_file():
            item.write_bytes(b"")
    other = 10 - best  # validated at 4 and 6
    (workdir / "checkpoints" / str(other) / "data_iterator" / "metadata").write_bytes(b"")  # predict needs none
    result = _run([sys.executable, "-m", "jaxseg", "predict", "--checkpoint", str(workdir),
                   str(phantom_root / "imagesTr" / "phantom_000.nii.gz"), str(tmp_path / "p.nii.gz")])
    assert result.returncode == 0, result.stderr
    assert f"checkpoint {workdir / 'checkpoints'}/{best} cannot be restored" in result.stderr
    assert "Traceback" not in result.stderr and (tmp_path / "p.nii.gz").is_file()
    assert sorted(p.name for p in (workdir / "checkpoints").iterdir()) == sorted(["2", str(other), f"{best}.damaged"])


def test_a_checkpoint_from_before_checksums_restores_unverified_with_a_warning(run_copy, finished_run, caplog):
    """Steps written before checksums were stored have no checksums folder: not damage, but nothing to verify."""
    workdir, overrides = run_copy
    for step in (2, 4, 6):
        shutil.rmtree(workdir / "checkpoints" / str(step) / "checksums")
    with caplog.at_level("WARNING"):
        restored_run = restore(workdir / "checkpoints", "latest")
    state, step = restored_run.state, restored_run.step
    assert step == 6
    assert (f"checkpoint {workdir / 'checkpoints'}/6 has no checksums (written before jaxseg stored them): restored "
            "unverified, damage to its arrays cannot be detected") in caplog.text
    reference = restore(finished_run[0] / "checkpoints", 6).state
    assert params_digest(state.params) == params_digest(reference.params)
    # Without checksums the stored shapes still tell a state that does not fit from a damaged one.
    smaller = load_config("demo", overrides + ["model.features=(8,16)"])
    checkpoints = Checkpoints(workdir / "checkpoints")
    with pytest.raises(IncompatibleCheckpoint, match=re.escape(
            "checkpoints/6 does not fit this config: .params['decoder_0']['BatchNorm_0']['bias'] is float32[4] there "
            "but float32[8] here")):
        checkpoints.restore(6, lambda _: jax.eval_shape(lambda: build_state(smaller, make_mesh(1, 1))))
    checkpoints.close()
    assert (workdir / "checkpoints" / "6").is_dir()
    assert int(fit(load_config("demo", overrides + ["train.steps=8"]), workdir, progress=False).step) == 8
    assert not list((workdir / "checkpoints").glob("*.damaged*"))
