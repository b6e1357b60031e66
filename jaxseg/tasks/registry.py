"""Task names -> Task objects. The built-in tasks are imported when first asked for, so that a
segmentation run never imports the detection code (and config checks stay light)."""

from __future__ import annotations

import importlib

from jaxseg.config.errors import ConfigError
from jaxseg.tasks.base import Task

# Each module calls `register_task` for its name when imported.
_BUILT_IN = {
    "segmentation": "jaxseg.tasks.segmentation",
    "detection": "jaxseg.tasks.detection",
    "propagation": "jaxseg.tasks.propagation",
}
_TASKS: dict[str, Task] = {}


def register_task(name: str, task: Task) -> Task:
    """Make `task` the one `config.task = name` selects (replacing any registered before); returns it."""
    _TASKS[name] = task
    return task


def task_names() -> list[str]:
    return sorted(set(_BUILT_IN) | set(_TASKS))


def get_task(name: str) -> Task:
    """The task registered as `name`; ConfigError naming config key 'task' when there is none."""
    if name not in _TASKS and name in _BUILT_IN:
        importlib.import_module(_BUILT_IN[name])
    if name not in _TASKS:
        raise ConfigError(f"config key 'task' = {name!r} names no task; registered: {', '.join(task_names())}")
    return _TASKS[name]
