"""Planned configs as Python files: one assignment per setting, its reason as the comment above it."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path

from jaxseg.io.atomic import write_text_atomic
from jaxseg.planning.settings import Setting


def render_config(name: str, settings: Sequence[Setting], header: Sequence[str]) -> str:
    """The text of a config file whose get_config() is base_config() with `name` and `settings`;
    `header` lines form its docstring."""
    lines = ['"""' + header[0], *header[1:], '"""', "", "from jaxseg.config import base_config", "", "",
             "def get_config():", "    c = base_config()", f"    c.name = {name!r}"]
    for setting in settings:
        for comment in textwrap.wrap(setting.why, 110):
            lines.append(f"    # {comment}")
        lines.append(f"    c.{setting.key} = {setting.value!r}")
    lines.append("    return c")
    return "\n".join(lines) + "\n"


def write_config(path: Path, name: str, settings: Sequence[Setting], header: Sequence[str]) -> Path:
    """Write `render_config` to `path` (atomically; folders created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, render_config(name, settings, header))
    return path
