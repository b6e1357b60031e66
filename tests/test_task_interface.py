"""A task defined and registered in this file alone (a per-pixel regression) trains, checkpoints,
resumes and evaluates through jaxseg's own `fit` and `evaluate`: adding a task edits nothing else."""

from __future__ import annotations

import json
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxseg.cli import main
from jaxseg.config import base_config, validate
from jaxseg.core.mesh import make_mesh, replicated
from jaxseg.core.state import create_train_state
from jaxseg.evaluate import evaluate_runs
from jaxseg.tasks import Training, get_task, register_task, task_names
from jaxseg.train.loop import fit
from jaxseg.train.restore import restore
from jaxseg.train.step import compile_step

SHAPE = (8, 8)


class PixelRegressor(nn.Module):
    @nn.compact
    def __call__(self, x, train: bool = False):
        return nn.Conv(1, (3, 3))(x)


def pairs(seed: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Images (count, 8, 8, 1) and their targets 2 * image + 1."""
    images = np.random.default_rng(seed).normal(size=(count, *SHAPE, 1)).astype(np.float32)
    return images, 2 * images + 1


def mse(state, images: np.ndarray, targets: np.ndarray) -> float:
    return float(jnp.mean((state.apply_fn({"params": state.params}, images) - targets) ** 2))


class Batches:
    """Batch i is pairs(seed + i): resumable by its position alone."""

    def __init__(self, seed: int, size: int):
        self.seed, self.size, self.position = seed, size, 0

    def __next__(self) -> dict:
        images, targets = pairs(self.seed + self.position, self.size)
        self.position += 1
        return {"image": images, "target": targets}

    def get_state(self) -> dict:
        return {"position": self.position}

    def set_state(self, state: dict) -> None:
        self.position = state["position"]

    def close(self) -> None:
        pass


def regression_step(state, batch):
    def loss_fn(params):
        return jnp.mean((state.apply_fn({"params": params}, batch["image"]) - batch["target"]) ** 2)

    loss, grads = jax.value_and_grad(loss_fn)(state.params)
    return state.apply_gradients(grads=grads), {"loss": loss}


class RegressionTask:
    inference_keys = ("inference.",)

    def check_config(self, config):
        pass

    def best_metric(self, config):
        return "val_neg_mse"

    def splits(self, config, workdir):
        return Path(workdir), {"train": [], "val": [], "test": []}

    def build_state(self, config, mesh, sample_shape=None):
        state = create_train_state(PixelRegressor(), optax.adam(0.1), jax.random.key(config.seed), (1, *SHAPE, 1))
        return jax.device_put(state, replicated(mesh))

    def training(self, config, workdir, mesh, say, validation=True):
        val = pairs(10_000, 4)
        return Training(self.build_state(config, mesh), Batches(config.seed, config.data.batch_size),
                        compile_step(regression_step, mesh),
                        (lambda state: {"val_neg_mse": -mse(state, *val)}) if validation else None, 1, mesh)

    def evaluate(self, runs, workdir, split, out, data, progress, prediction_format="label-map"):
        summary = {"task": "toy_regression", "mse": mse(runs[0].state, *pairs(20_000, 4)), "n_cases": 4,
                   "n_failed": 0, "step": runs[0].step}
        out.mkdir(parents=True, exist_ok=True)
        (out / "summary.json").write_text(json.dumps(summary))
        return summary

    def format_report(self, summary):
        return f"mse {summary['mse']:.6f}"

    def predict(self, run, input_path, output_path, output_format=None):
        raise ValueError("the toy task predicts no files")


@pytest.fixture
def toy_config():
    register_task("toy_regression", RegressionTask())
    config = base_config()
    config.task = "toy_regression"
    config.data.batch_size = 4
    config.train.update(steps=30, log_every=10, val_every=10, checkpoint_every=10)
    validate(config)
    return config


def test_a_task_registered_in_a_test_trains_resumes_and_evaluates(toy_config, tmp_path, capsys):
    assert "toy_regression" in task_names() and {"segmentation", "detection", "propagation"} <= set(task_names())
    straight = fit(toy_config, tmp_path / "straight", progress=False)
    initial = RegressionTask().build_state(toy_config, make_mesh())
    assert mse(straight, *pairs(20_000, 4)) < 0.1 * mse(initial, *pairs(20_000, 4))

    # Stopped at step 10, resumed to 30: the same parameters as the straight run (data position restored).
    half = toy_config.copy_and_resolve_references()
    half.train.steps = 10
    fit(half, tmp_path / "resumed", progress=False)
    resumed = fit(toy_config, tmp_path / "resumed", progress=False)
    for a, b in zip(jax.tree.leaves(straight.params), jax.tree.leaves(resumed.params)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))

    # The best checkpoint is picked by the task's metric; evaluate goes through the task.
    best = restore(tmp_path / "straight")
    metrics = [json.loads(line) for line in (tmp_path / "straight" / "metrics.jsonl").read_text().splitlines()]
    assert best.step == max((m for m in metrics if "val_neg_mse" in m), key=lambda m: m["val_neg_mse"])["step"]
    summary = evaluate_runs([tmp_path / "straight"], progress=False)
    assert summary["mse"] == pytest.approx(mse(best.state, *pairs(20_000, 4)))
    assert json.loads((tmp_path / "straight" / "eval" / "summary.json").read_text()) == summary
    assert main(["evaluate", "--workdir", str(tmp_path / "straight")]) == 0
    assert f"mse {summary['mse']:.6f}" in capsys.readouterr().out


def test_an_unknown_task_names_the_registered_ones():
    config = base_config()
    config.task = "segmentaton"
    with pytest.raises(Exception, match=r"config key 'task' = 'segmentaton' names no task; registered: detection"):
        validate(config)


def test_propagation_is_selected_by_the_task_not_the_sampler():
    config = base_config()
    config.data.sampler = "pairs"
    with pytest.raises(Exception, match="trains slice propagation: set task = 'propagation'"):
        validate(config)
    assert type(get_task("propagation")).__name__ == "PropagationTask"
