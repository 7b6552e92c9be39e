"""Evaluation tasks: `TASKS` (name -> declarative `TaskSpec`) and the library entry points.

    from msxr_bench.tasks import TASKS, EvalContext, evaluate_task
    result, path = evaluate_task(TASKS["ms-cxr"], EvalContext(adapter=..., ...), Path("results/mymodel"))

Heavy modules (torch, the runners) load only when a task runs, so `msxr-bench list` stays fast.
"""

from __future__ import annotations

from typing import Any

from msxr_bench.tasks.catalog import TASKS
from msxr_bench.tasks.spec import DatasetSpec, EvalContext, TaskSkipped, TaskSpec

__all__ = ["TASKS", "DatasetSpec", "EvalContext", "TaskSkipped", "TaskSpec", "evaluate_task", "format_result"]


def __getattr__(name: str) -> Any:
    if name == "evaluate_task":
        from msxr_bench.tasks.run import evaluate_task

        return evaluate_task
    if name == "format_result":
        from msxr_bench.tasks.table import format_result

        return format_result
    raise AttributeError(name)
