"""`jaxseg plan` on a tiny config: its JSON agrees with the memory model it searched with."""

import json

import pytest

from jaxseg.cli import main
from jaxseg.config import load_config
from jaxseg.perf.step_cost import step_memory

TINY = '''
from jaxseg.config import base_config


def get_config():
    c = base_config()
    c.name = "tiny"
    c.data.source = "phantom"
    c.data.batch_size = 2
    c.phantom.shape = (32, 32, 16)
    c.model.features = (4, 8)
    return c
'''


@pytest.fixture
def tiny_config(tmp_path):
    path = tmp_path / "tiny.py"
    path.write_text(TINY)
    return str(path)


def _plan(capsys, *args):
    assert main(["plan", *args, "--json", "--steps", "0"]) == 0
    return json.loads(capsys.readouterr().out)


def test_plan_json_is_consistent(tiny_config, capsys):
    budget = 512 * 2**10
    result = _plan(capsys, "--config", tiny_config, "--budget", "512KiB")
    assert result["budget_bytes"] == budget
    assert result["fits"] is True and result["max_batch"] >= 1
    assert result["spatial_shape"] == [32, 32]  # The phantom's axial slice.
    assert 0 < result["peak_bytes"] <= budget
    config = load_config(tiny_config)
    assert step_memory(config, result["max_batch"] + 1, (32, 32)).peak_bytes > budget


def test_plan_nothing_fits(tiny_config, capsys):
    result = _plan(capsys, "--config", tiny_config, "--budget", "64KiB", "--shape", "32,32")
    assert (result["fits"], result["max_batch"]) == (False, 0)
    assert result["peak_bytes"] > 64 * 2**10  # The smallest batch's peak, reported to say by how much.


def test_plan_bad_budget(tiny_config, capsys):
    assert main(["plan", "--config", tiny_config, "--budget", "eight gigs"]) == 2
    assert "memory budget 'eight gigs'" in capsys.readouterr().err
