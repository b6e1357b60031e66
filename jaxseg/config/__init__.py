"""Experiment configs: Python files whose `get_config()` returns an `ml_collections.ConfigDict`.

Every config starts from `base_config()`, which declares every key jaxseg knows with its type and
default, and is locked: a misspelt key in a config file or on the command line is an error, never a
silently ignored setting. `load_config(path, overrides)` loads a file, applies `a.b=value` overrides
and checks every value with `validate`, raising `ConfigError` that names the key.
"""

from jaxseg.config.checks import PLANAR_SOURCES, validate
from jaxseg.config.errors import ConfigError
from jaxseg.config.loading import CONFIGS_DIR, apply_override, config_from_json, find_config, load_config, set_value
from jaxseg.config.schema import base_config

__all__ = [
    "CONFIGS_DIR",
    "PLANAR_SOURCES",
    "ConfigError",
    "apply_override",
    "base_config",
    "config_from_json",
    "find_config",
    "load_config",
    "set_value",
    "validate",
]
