"""The benchmark scripts' building blocks: seed cases give valid configs of the seed networks, and
the layout benchmark computes the same gradients in both layouts."""

import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from layout import level  # noqa: E402
from seed_cases import CASES, case_config, detection_config  # noqa: E402

from jaxseg.models.info import model_info  # noqa: E402


@pytest.mark.parametrize("name, params", [("pig_ct_2d", 81_831_025), ("nnunet_3d", 31_195_594)])
def test_seed_cases_are_the_seed_networks(name, params):
    config = case_config(name, "bfloat16", True)
    assert (config.model.dtype, config.model.remat, config.data.batch_size) == ("bfloat16", True, CASES[name].batch)
    assert model_info(CASES[name].preset)["params"] == params


def test_detection_case_is_the_seed_canvas():
    assert tuple(detection_config(False).detection.canvas) == (600, 600)
    assert detection_config(True).detection.width == 0.25


def test_layout_level_gives_the_same_values_in_both_layouts():
    x = jax.random.normal(jax.random.key(0), (1, 6, 6, 6, 3))
    kernels = [jax.random.normal(jax.random.key(i), (3, 3, 3, 3, 3)) for i in (1, 2)]
    last = level(x, kernels, True, jnp.float32)
    first = level(jnp.moveaxis(x, -1, 1), kernels, False, jnp.float32)
    np.testing.assert_allclose(np.asarray(jnp.moveaxis(first, 1, -1)), np.asarray(last), rtol=1e-5, atol=1e-5)
    assert float(jnp.abs(last).max()) > 0


def test_gpu_check_dry_run_lists_its_four_steps():
    import subprocess

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.sh"
    done = subprocess.run(["bash", str(script), "--dry-run"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[1:3] for line in lines] == [["timeout", "90"], ["timeout", "240"], ["timeout", "60"],
                                                     ["timeout", "80"]]
    assert "-m gpu" in lines[0] and "--cases nnunet_3d,pig_ct_2d --precisions bfloat16" in lines[1]
    assert "plan --config configs/pig_ct_unet2d.py --budget 8GiB --shape 512,512" in lines[2]
    assert "data_pipeline.py" in lines[3]
    assert subprocess.run(["bash", str(script), "--bogus"], capture_output=True, timeout=60).returncode == 2


def test_multiprocess_equivalence_measures_relative_differences_per_leaf_and_overall():
    from multiprocess_equivalence import relative_differences

    a = {"w": np.array([3.0, 4.0]), "b": np.array([1.0])}
    b = {"w": np.array([3.0, 0.0]), "b": np.array([2.0])}
    per_leaf, overall = relative_differences(a, b)
    assert per_leaf == {"['b']": 0.5, "['w']": 4.0 / 3.0}
    assert overall == pytest.approx(np.sqrt(17.0) / np.sqrt(13.0), rel=1e-12)
