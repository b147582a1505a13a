"""Tasks: what differs between classification, detection and segmentation (style principle 12).

Each task package provides a ``Task`` object (``mobilenet.tasks.base.Task``) for the shared
trainer and commands, and registers its models (detectors, segmenters) in the model registry
when imported. ``get_task(name)`` returns the task object of a registered model's task.
"""

from __future__ import annotations

from mobilenet.tasks.base import Datasets, EvalResult, Task
from mobilenet.tasks.classification.task import ClassificationTask

TASKS: dict[str, Task] = {"classification": ClassificationTask()}


def register_task(task: Task) -> None:
    """Add a task object; a name registered twice is an error."""
    if task.name in TASKS:
        raise ValueError(f"task {task.name!r} is already registered")
    TASKS[task.name] = task


def get_task(name: str) -> Task:
    """The task object called ``name``; a ValueError naming the valid ones otherwise."""
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f"unknown task {name!r}; valid: {', '.join(TASKS)}") from None


def task_of(model_name: str) -> Task:
    """The task of a registered model name."""
    from mobilenet.models.registry import get_entry

    return get_task(get_entry(model_name).task)


import mobilenet.tasks.detection  # noqa: E402,F401  (registers the detectors and the detection task)
import mobilenet.tasks.segmentation  # noqa: E402,F401  (registers the segmentation task and models)

__all__ = ["Datasets", "EvalResult", "TASKS", "Task", "get_task", "register_task", "task_of"]
