"""The benchmark scripts' building blocks: seed cases give valid configs of the seed networks, and
the layout benchmark computes the same gradients in both layouts."""

import sys
from pathlib import Path

import jax.numpy as jnp
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from layout import measure  # noqa: E402
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


def test_layout_benchmark_checks_both_layouts_agree():
    row = measure(2, 1, 4, 8, jnp.float32, steps=1)
    assert row["rank"] == "2d" and row["channels_last_s"] > 0 and row["channels_first_s"] > 0
