"""Training through `fit` on 3D blocks: 3D convolutions, sliding-window validation, exact resumption,
restoring and evaluating the 3D run."""

import jax
import numpy as np
import pytest

from jaxseg.config import load_config
from jaxseg.evaluate import evaluate_runs
from jaxseg.train.loop import fit
from jaxseg.train.restore import restore
from tests.conftest import tiny_overrides


@pytest.mark.slow
def test_fit_trains_on_3d_blocks_and_resumes_their_order(phantom_root, tmp_path):
    overrides = tiny_overrides(phantom_root, **{
        "data.sampler": "blocks", "sampling.block_shape": (16, 16, 8), "sampling.blocks_per_case": 4,
        "data.batch_size": 2, "inference.mode": "sliding_window", "inference.roi_size": (16, 16, 8),
        "augment.flip_p": 0.5, "augment.rotate_p": 0.5, "optimizer.schedule": "constant"})
    whole = fit(load_config("demo", overrides), tmp_path / "whole", progress=False)
    fit(load_config("demo", overrides + ["train.steps=4"]), tmp_path / "split", progress=False)
    resumed = fit(load_config("demo", overrides), tmp_path / "split", progress=False)
    for a, b in zip(jax.tree.leaves(whole.params), jax.tree.leaves(resumed.params)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert any(leaf.ndim == 5 for leaf in jax.tree.leaves(whole.params))  # 3D convolution kernels


def test_a_3d_run_restores_and_evaluates(phantom_root, tmp_path):
    """The restored state is shaped like the trained one: 3D kernels for a blocks run."""
    overrides = tiny_overrides(phantom_root, **{
        "data.sampler": "blocks", "sampling.block_shape": (16, 16, 8), "sampling.blocks_per_case": 2,
        "data.batch_size": 2, "inference.mode": "sliding_window", "inference.roi_size": (16, 16, 8),
        "train.steps": 2, "train.log_every": 2, "train.val_every": 2, "train.checkpoint_every": 2})
    trained = fit(load_config("demo", overrides), tmp_path / "run", progress=False)
    restored = restore(tmp_path / "run")
    assert restored.step == 2
    for a, b in zip(jax.tree.leaves(trained.params), jax.tree.leaves(restored.state.params)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    summary = evaluate_runs([tmp_path / "run"], progress=False)
    assert (summary["n_cases"], summary["n_failed"]) == (1, 0)
