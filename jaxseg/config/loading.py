"""Config files, `a.b=value` overrides and configs saved as JSON (in checkpoints)."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import traceback
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import ml_collections

from jaxseg.config.checks import validate
from jaxseg.config.errors import ConfigError
from jaxseg.config.schema import base_config

CONFIGS_DIR = Path(__file__).resolve().parents[2] / "configs"


def _parse_value(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text  # A bare word such as `adam` is a string.


def apply_override(config: ml_collections.ConfigDict, override: str) -> None:
    """Apply one `a.b=value` override in place (value as a Python literal or a bare string)."""
    key, sep, text = override.partition("=")
    if not sep or not key:
        raise ConfigError(f"override '{override}' is not of the form key=value")
    set_value(config, key, text, from_text=True)


def set_value(config: ml_collections.ConfigDict, key: str, value: Any, from_text: bool = False) -> None:
    """Set an existing key (`a.b`), converting the value to the key's type; ConfigError if impossible.

    With `from_text`, `value` is command-line text: a Python literal, or a bare word for strings.
    """
    *parents, leaf = key.split(".")
    node: Any = config
    for depth, part in enumerate(parents):
        if not isinstance(node, ml_collections.ConfigDict) or part not in node:
            raise ConfigError(f"unknown config key '{'.'.join(parents[: depth + 1])}' (in '{key}')")
        node = node[part]
    if not isinstance(node, ml_collections.ConfigDict) or leaf not in node:
        raise ConfigError(f"unknown config key '{key}'")
    current = node[leaf]
    if isinstance(current, ml_collections.ConfigDict):
        raise ConfigError(f"config key '{key}' is a section; set one of its keys instead")
    kind = node.get_type(leaf)  # The declared type, also for keys that are None (unset).
    shown = value
    if from_text and not issubclass(kind, str):
        value = _parse_value(value)
    if value is None:
        pass  # Unsets a network key (JSON null, or None on the command line).
    elif issubclass(kind, bool):
        if isinstance(value, str) and value.lower() in ("true", "false"):
            value = value.lower() == "true"
        if not isinstance(value, bool):
            raise ConfigError(f"config key '{key}' expects true or false, got '{shown}'")
    elif issubclass(kind, tuple):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = (value,)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"config key '{key}' expects a list such as {current or (1, 2)!r}, got '{shown}'")
        value = tuple(value)
    elif isinstance(value, list):
        value = tuple(value)  # A key of any type (object) holding a list, as JSON gives it back.
    elif issubclass(kind, (int, float)) and isinstance(value, bool):
        raise ConfigError(f"config key '{key}' expects {kind.__name__}, got '{shown}'")
    try:
        node[leaf] = value
    except TypeError:
        raise ConfigError(f"config key '{key}' expects {kind.__name__}, got '{shown}'") from None


def find_config(name_or_path: str) -> Path:
    """A config file path, or the name of one in the repository's configs/ folder (`demo`)."""
    path = Path(name_or_path)
    if path.suffix != ".py":
        path = CONFIGS_DIR / f"{name_or_path}.py"
    if not path.is_file():
        raise ConfigError(f"config file '{path}' does not exist")
    return path


def _config_file_error(path: Path, err: Exception) -> ConfigError:
    """"config file F, line N: Kind: message" for an error raised while running a config file, the
    line being the file's own line where it happened; ml_collections' listing of every key of a
    section (after "Other fields present") is left out."""
    file = os.path.abspath(path)
    if isinstance(err, SyntaxError) and err.filename and os.path.abspath(err.filename) == file:
        return ConfigError(f"config file {path}, line {err.lineno}: SyntaxError: {err.msg}")
    lines = [frame.lineno for frame in traceback.extract_tb(err.__traceback__)
             if os.path.abspath(frame.filename) == file]
    where = f", line {lines[-1]}" if lines else ""
    cause = err
    while cause.args and isinstance(cause.args[0], BaseException):  # ml_collections wraps a KeyError
        cause = cause.args[0]
    message = cause.args[0] if cause.args and isinstance(cause.args[0], str) else str(cause)
    message = message.split(" Other fields present")[0].replace("\n", "; ")
    return ConfigError(f"config file {path}{where}: {type(err).__name__}: {message}")


def load_config(name_or_path: str, overrides: Iterable[str] = ()) -> ml_collections.ConfigDict:
    """Load a config file, apply overrides, validate; raise ConfigError naming what is wrong (for an
    error inside the file: its line)."""
    path = find_config(name_or_path)
    spec = importlib.util.spec_from_file_location(f"jaxseg_config_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
        config = module.get_config()
    except ConfigError:
        raise
    except Exception as err:  # Anything a Python file can raise: SyntaxError, NameError, ImportError, ...
        raise _config_file_error(path, err) from None
    if not isinstance(config, ml_collections.ConfigDict):
        raise ConfigError(f"config file '{path}': get_config() must return an ml_collections.ConfigDict")
    for override in overrides:
        apply_override(config, override)
    validate(config)
    return config


def config_from_json(text: str) -> ml_collections.ConfigDict:
    """Rebuild a config saved with `config.to_json()` (for example inside a checkpoint)."""
    config = base_config()
    saved = dict(_flatten(json.loads(text)))
    # Migration: runs saved before task = "propagation" existed marked slice propagation by its sampler.
    if saved.get("data.sampler") == "pairs" and saved.get("task") == "segmentation":
        saved["task"] = "propagation"
    # Runs saved before train.exact_reductions existed summed across devices in float32.
    saved.setdefault("train.exact_reductions", False)
    for key, value in saved.items():
        set_value(config, key, value)
    validate(config)
    return config


def _flatten(tree: dict, prefix: str = "") -> Iterable[tuple[str, Any]]:
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value
