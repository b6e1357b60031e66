"""Tasks: what a run trains and evaluates, selected by `config.task` (see `jaxseg.tasks.base.Task`).

segmentation, detection and propagation are registered here by module; a new task registers
itself with `register_task` (from its own module, or a test file) and needs no edit elsewhere.
"""

from jaxseg.tasks.base import Restored, Task, Training
from jaxseg.tasks.registry import get_task, register_task, task_names

__all__ = ["Restored", "Task", "Training", "get_task", "register_task", "task_names"]
