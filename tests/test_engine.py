"""The training engine: accumulation, schedules, sharding, interruption, resumption, checkpoint-info."""

import json
import signal
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from jaxseg.config import load_config
from jaxseg.core.mesh import global_batch, make_mesh
from jaxseg.train.build import build_state
from jaxseg.train.checkpoint import Checkpoints, with_metric_ema
from jaxseg.train.checkpoint_info import checkpoint_info, params_digest
from jaxseg.train.loop import fit
from jaxseg.train.objective import make_loss_fn
from jaxseg.train.optim import learning_rate_schedule
from jaxseg.train.restore import restore
from jaxseg.train.step import compile_train_step
from tests.conftest import tiny_overrides, wait_for

REPO = Path(__file__).resolve().parent.parent


def _train_command(workdir, phantom_root, **extra):
    overrides = tiny_overrides(phantom_root, **{"train.val_every": 1000, "train.log_every": 10,
                                                "train.checkpoint_every": 10, **extra})
    return [sys.executable, "-m", "jaxseg", "train", "--config", "configs/demo.py", "--workdir", str(workdir),
            *[f"--config.{o}" for o in overrides]]


def _digest(workdir):
    return checkpoint_info(workdir)["params_digest"]


def test_piecewise_schedule_decays_at_its_boundaries():
    config = load_config("demo", ["optimizer.schedule=piecewise", "optimizer.learning_rate=1e-4",
                                  "optimizer.boundaries=(10,20,25)", "optimizer.warmup_steps=0"]).optimizer
    lr = learning_rate_schedule(config, 30)
    assert [float(lr(s)) for s in (0, 9, 10, 19, 20, 25, 29)] == pytest.approx(
        [1e-4, 1e-4, 1e-5, 1e-5, 1e-6, 1e-7, 1e-7], rel=1e-5)


def test_warmup_then_poly():
    config = load_config("demo", ["optimizer.schedule=poly", "optimizer.learning_rate=0.01",
                                  "optimizer.warmup_steps=10"]).optimizer
    lr = learning_rate_schedule(config, 110)
    assert float(lr(5)) == pytest.approx(0.005)
    assert float(lr(60)) == pytest.approx(0.01 * 0.5 ** 0.9, rel=1e-5)


def test_gradient_accumulation_equals_the_full_batch(phantom_root, tmp_path):
    # Without batch norm and with a per-voxel loss, averaging microbatch gradients is exact.
    base = tiny_overrides(phantom_root, **{"model.norm": "none", "loss.name": "cross_entropy",
                                           "data.batch_size": 8, "optimizer.schedule": "constant"})
    rng = np.random.default_rng(0)
    batch = {"image": rng.normal(size=(8, 16, 16, 1)).astype(np.float32),
             "label": rng.integers(0, 5, size=(8, 16, 16)).astype(np.int32)}
    mesh = make_mesh()
    results = []
    for accum in (1, 4):
        config = load_config("demo", base + [f"train.grad_accum_steps={accum}"])
        state = build_state(config, mesh, (16, 16))
        step = compile_train_step(make_loss_fn(config.loss), mesh, accum)
        for _ in range(3):
            state, metrics = step(state, global_batch(batch, mesh))
        results.append((state.params, float(metrics["loss"])))
    (params_a, loss_a), (params_b, loss_b) = results
    assert loss_a == pytest.approx(loss_b, rel=1e-5)
    for a, b in zip(jax.tree.leaves(params_a), jax.tree.leaves(params_b)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5)


def test_killed_run_resumes_bitwise(phantom_root, tmp_path):
    """SIGKILL mid-run, restart: final parameters equal an uninterrupted run's, bit for bit."""
    steps = {"train.steps": 300}
    subprocess.run(_train_command(tmp_path / "whole", phantom_root, **steps), cwd=REPO, check=True,
                   capture_output=True, timeout=600)
    killed = subprocess.Popen(_train_command(tmp_path / "killed", phantom_root, **steps), cwd=REPO,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_for(tmp_path / "killed" / "checkpoints" / "50", killed)
    killed.kill()
    killed.wait()
    done = sorted(int(p.name) for p in (tmp_path / "killed" / "checkpoints").iterdir() if p.name.isdigit())
    assert done and done[-1] < 300, "the run finished before it could be killed"
    subprocess.run(_train_command(tmp_path / "killed", phantom_root, **steps), cwd=REPO, check=True,
                   capture_output=True, timeout=600)
    assert _digest(tmp_path / "killed") == _digest(tmp_path / "whole")
    steps_logged = [json.loads(x)["step"] for x in (tmp_path / "killed" / "metrics.jsonl").read_text().splitlines()]
    assert steps_logged == list(range(10, 301, 10))


def test_sigterm_saves_then_exits_and_resumes(phantom_root, tmp_path):
    command = _train_command(tmp_path, phantom_root, **{"train.steps": 2000, "train.checkpoint_every": 1000})
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_for(tmp_path / "metrics.jsonl", process)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM, stderr.decode()
    assert "run the same command again to resume" in stderr.decode()
    saved = checkpoint_info(tmp_path)
    assert 10 <= saved["step"] < 1000
    state_dir = tmp_path / "checkpoints" / str(saved["step"])
    assert (state_dir / "state").is_dir() and (state_dir / "data_iterator").is_dir()
    last_line = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[-1])
    assert last_line["step"] == saved["step"]  # the stop step's metrics are written before the exit


def test_damaged_latest_checkpoint_falls_back_to_the_previous(phantom_root, tmp_path, caplog):
    overrides = tiny_overrides(phantom_root, **{"train.keep_checkpoints": 2, "train.val_every": 1000,
                                                "optimizer.schedule": "constant"})
    fit(load_config("demo", overrides), tmp_path, progress=False)  # checkpoints at 4 and 6
    for item in (tmp_path / "checkpoints" / "6" / "state").rglob("*"):
        if item.is_file():
            item.write_bytes(b"")
    config = load_config("demo", overrides + ["train.steps=8"])
    with caplog.at_level("WARNING"):
        state = fit(config, tmp_path, progress=False)
    assert "checkpoints/6 cannot be restored" in caplog.text
    assert (tmp_path / "checkpoints" / "6.damaged").is_dir()
    assert int(state.step) == 8
    reference = fit(config, tmp_path / "clean", progress=False)
    assert params_digest(state.params) == params_digest(reference.params)


def test_checkpoint_info_cli(phantom_root, tmp_path):
    state = fit(load_config("demo", tiny_overrides(phantom_root)), tmp_path, progress=False)
    result = subprocess.run([sys.executable, "-m", "jaxseg", "checkpoint-info", str(tmp_path / "checkpoints" / "6"),
                             "--json"], cwd=REPO, capture_output=True, text=True, timeout=120, check=True)
    info = json.loads(result.stdout)
    assert info["step"] == 6 and info["config_name"] == "demo"
    assert info["params"] == sum(x.size for x in jax.tree.leaves(state.params))
    assert info["params_digest"] == params_digest(state.params)
    assert set(info["metrics"]) == {"val_dice", "val_iou"}
    assert 0 <= info["metrics"]["val_iou"] <= info["metrics"]["val_dice"] <= 1  # IoU <= Dice per class
    assert (tmp_path / "curves.png").stat().st_size > 5_000
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))


@pytest.mark.slow  # 31 s on 2 cores; bf16 + remat also train in test_deep_supervision_train
def test_bf16_and_remat_train_and_remat_recomputes_the_forward(phantom_root):
    """model.remat recomputes each level's forward in the backward pass: the compiled step holds more
    convolutions (30 -> 35 here). At this size XLA:CPU's peak is the same either way
    (within 64 bytes), so the memory saving is measured in benchmarks/memory_fit.py, not here."""
    base = tiny_overrides(phantom_root, **{"optimizer.learning_rate": 0.01, "optimizer.schedule": "constant",
                                           "model.features": (8, 16, 32)})
    rng = np.random.default_rng(0)
    batch = {"image": rng.normal(size=(4, 48, 48, 1)).astype(np.float32),
             "label": ((rng.random((4, 48, 48)) < 0.3).astype(np.int32)
                       * rng.integers(1, 5, (4, 48, 48)).astype(np.int32))}
    mesh = make_mesh()
    convolutions = {}
    for name, extra in {"fp32": [], "bf16": ["model.dtype=bfloat16"], "remat": ["model.remat=true"]}.items():
        config = load_config("demo", base + extra)
        state = build_state(config, mesh, (48, 48))
        step = compile_train_step(make_loss_fn(config.loss), mesh)
        sharded = global_batch(batch, mesh)
        compiled = step.lower(state, sharded).compile()
        convolutions[name] = compiled.as_text().count("convolution(")
        losses = []
        for _ in range(10):
            state, metrics = compiled(state, sharded)
            losses.append(float(metrics["loss"]))
        assert all(np.isfinite(losses)) and losses[-1] < 0.8 * losses[0], (name, losses)
        assert jax.tree.leaves(state.params)[0].dtype == np.float32  # parameters stay fp32
    assert convolutions["remat"] > convolutions["fp32"] > 0


def test_best_checkpoint_by_a_smoothed_metric(phantom_root, tmp_path):
    """train.best_metric_ema: the checkpoints carry ema = a*ema + (1-a)*metric, resumed with the state,
    and `best` restores the step with the highest average."""
    config = load_config("demo", tiny_overrides(phantom_root, **{"train.best_metric": "iou",
                                                                 "train.best_metric_ema": 0.5, "train.val_every": 2}))
    state = build_state(config, make_mesh())
    assert float(state.metric_ema) == -np.inf
    for value, expected in ((0.5, 0.5), (0.9, 0.7), (0.2, 0.45)):
        state, scores = with_metric_ema(state, {"val_dice": 1.0, "val_iou": value}, config)
        assert scores["val_iou_ema"] == pytest.approx(expected) and float(state.metric_ema) == pytest.approx(expected)

    fit(config, tmp_path, progress=False)
    store = Checkpoints(tmp_path / "checkpoints")
    records = {s: store.metrics(s) for s in store.manager.all_steps() if store.metrics(s)}
    store.close()
    assert records and all(set(m) == {"val_dice", "val_iou", "val_iou_ema"} for m in records.values())
    best = max(records, key=lambda s: records[s]["val_iou_ema"])
    assert restore(tmp_path / "checkpoints", "best").step == best
    restored_run = restore(tmp_path / "checkpoints", "latest")
    state, step = restored_run.state, restored_run.step
    assert float(state.metric_ema) == pytest.approx(records[step]["val_iou_ema"], rel=1e-6)
