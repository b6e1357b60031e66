import subprocess
import sys
import textwrap

import pytest

from jaxseg.config import ConfigError, apply_override, base_config, config_from_json, load_config


def test_demo_config_loads_with_its_values():
    config = load_config("configs/demo.py")
    assert config.name == "demo"
    assert config.model.num_classes == 5
    assert config.train.steps == 300


@pytest.mark.parametrize(
    "override, key, value",
    [
        ("train.steps=25", "steps", 25),
        ("optimizer.learning_rate=0.01", "learning_rate", 0.01),
        ("optimizer.learning_rate=1", "learning_rate", 1.0),
        ("optimizer.name=sgd", "name", "sgd"),
        ("model.features=(8,16,32)", "features", (8, 16, 32)),
        ("model.features=[8,16]", "features", (8, 16)),
        ("loss.include_background=true", "include_background", True),
    ],
)
def test_overrides_convert_to_the_keys_type(override, key, value):
    config = load_config("demo", [override])
    section = override.split(".")[0]
    assert config[section][key] == value
    assert type(config[section][key]) is type(value)


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.stpes=3", "unknown config key 'train.stpes'"),
        ("trian.steps=3", "unknown config key 'trian'"),
        ("train.steps=many", "config key 'train.steps' expects int, got 'many'"),
        ("train.steps=2.5", "config key 'train.steps' expects int"),
        ("train.steps=-1", "config key 'train.steps' = -1 is invalid: expected > 0"),
        ("optimizer.name=adagrad", "'optimizer.name' = 'adagrad' is invalid: expected one of adam"),
        ("optimizer.momentum=1.5", "'optimizer.momentum' = 1.5 is invalid: expected in [0, 1)"),
        ("optimizer.learning_rate=nan", "config key 'optimizer.learning_rate' expects float"),
        ("loss.include_background=maybe", "'loss.include_background' expects true or false"),
        ("model.features=()", "'model.features' = () is invalid"),
        ("train=3", "config key 'train' is a section"),
        ("train.steps", "is not of the form key=value"),
    ],
)
def test_bad_overrides_name_the_key(override, message):
    with pytest.raises(ConfigError) as err:
        load_config("demo", [override])
    assert message in str(err.value)


def test_infinite_learning_rate_is_rejected():
    with pytest.raises(ConfigError, match="'optimizer.learning_rate' = inf is invalid"):
        load_config("demo", ["optimizer.learning_rate=1e999"])


def test_misspelt_key_in_a_config_file_names_the_file(tmp_path):
    path = tmp_path / "typo.py"
    path.write_text(textwrap.dedent("""
        from jaxseg.config import base_config
        def get_config():
            c = base_config()
            c.train.stpes = 10
            return c
    """))
    with pytest.raises(ConfigError) as err:
        load_config(str(path))
    assert str(path) in str(err.value) and "stpes" in str(err.value)


def test_missing_config_file():
    with pytest.raises(ConfigError, match="config file 'nope.py' does not exist"):
        load_config("nope.py")


def test_config_json_round_trip():
    config = load_config("demo", ["model.features=(8,16)", "optimizer.name=sgd"])
    restored = config_from_json(config.to_json())
    assert restored.to_dict() == config.to_dict()


def test_base_config_is_locked():
    config = base_config()
    with pytest.raises(ConfigError, match="unknown config key 'data.nope'"):
        apply_override(config, "data.nope=1")


def test_cli_rejects_negative_steps_at_once():
    result = subprocess.run(
        [sys.executable, "-m", "jaxseg", "train", "--config", "configs/demo.py", "--config.train.steps=-1",
         "--workdir", "unused"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert "train.steps" in result.stderr and "Traceback" not in result.stderr
