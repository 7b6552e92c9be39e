"""A results file's numbers recomputed from its own rows with its task's definitions (`Task.metrics`): what
`leaderboard validate` checks and what `compare` bootstraps. Only JSON is read; no model, no data files.
"""

from __future__ import annotations

from msxr_bench.results import CategoryRow, TaskResult
from msxr_bench.tasks.base import RowError, RowStatistic, Task
from msxr_bench.tasks.catalog import TASKS

__all__ = ["RowError", "RowStatistic", "has_direction", "per_category_rows", "row_statistics", "task_of"]


def task_of(name: str) -> Task:
    if name not in TASKS:
        raise KeyError(f"unknown task {name!r} (this harness has {', '.join(TASKS)})")
    return TASKS[name].task()


def row_statistics(result: TaskResult) -> dict[str, RowStatistic]:
    """Every metric the task reports, as a function of the file's rows (RowError on malformed rows)."""
    if not result.samples:
        raise RowError("no per-sample rows: the metrics cannot be recomputed")
    return task_of(result.task.name).metrics(result.samples, result.scoring)


def per_category_rows(result: TaskResult) -> list[CategoryRow] | None:
    """The per-category table recomputed from the rows (tasks with categories), else None."""
    return task_of(result.task.name).per_category(result.samples)


def has_direction(task: str, metric: str) -> bool:
    """Whether "higher is better" holds for `metric` of `task` (controls and raw similarities have none)."""
    return metric not in task_of(task).no_direction()
