"""Run one task through the driver with a RunContext built from keywords (the tests' way in)."""

from __future__ import annotations

from typing import Any

from msxr_bench.engine import resolve_runtime
from msxr_bench.results import TaskResult
from msxr_bench.tasks.catalog import TASKS
from msxr_bench.tasks.context import RunContext
from msxr_bench.tasks.driver import run_task

CPU = resolve_runtime("cpu")


def run_named(task: str, params: dict[str, Any] | None = None, **run: Any) -> TaskResult:
    """`task` with typed `params` (validated) in a RunContext of `run` (runtime defaults to the CPU)."""
    run.setdefault("runtime", CPU)
    run.setdefault("progress", False)
    spec = TASKS[task]
    return run_task(spec.task(), spec.make_params(params or {}), RunContext(**run))
