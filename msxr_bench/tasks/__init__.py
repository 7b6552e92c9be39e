"""Evaluation tasks: `TASKS` (name -> declarative `TaskSpec`, torch-free) and the driver that runs them.

    from msxr_bench.tasks import TASKS, run_task
    spec = TASKS["ms-cxr"]
    result = run_task(spec.task(), spec.make_params({"split": "all"}), RunContext(adapter=..., ...))

Most users want the facade instead: `msxr_bench.evaluate(...)`. Heavy modules load only when a task runs.
"""

from __future__ import annotations

from typing import Any

from msxr_bench.tasks.catalog import TASKS
from msxr_bench.tasks.spec import ProtocolSpec, TaskParams, TaskParamsError, TaskSkipped, TaskSpec

__all__ = ["TASKS", "ProtocolSpec", "RunContext", "TaskParams", "TaskParamsError", "TaskSkipped", "TaskSpec",
           "format_result", "run_task"]


def __getattr__(name: str) -> Any:
    if name == "run_task":
        from msxr_bench.tasks.driver import run_task

        return run_task
    if name == "RunContext":
        from msxr_bench.tasks.context import RunContext

        return RunContext
    if name == "format_result":
        from msxr_bench.tasks.table import format_result

        return format_result
    raise AttributeError(name)
