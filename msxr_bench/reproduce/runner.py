"""Run a reproduction plan through the facade (each distinct evaluation once, results JSONs kept, the eval cache
reused) and read every published cell's measured value from the results, with its CI where the result has one."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from msxr_bench.published.values import PublishedValue, category_name
from msxr_bench.reproduce.plan import Plan, PlannedRun
from msxr_bench.reproduce.recipe import Cell, Measure
from msxr_bench.reproduce.verdict import Comparison, judge
from msxr_bench.results import TaskResult


@dataclass
class Outcome:
    comparisons: list[Comparison]
    results: dict[str, Path]  # run key -> the folder holding its results JSON and run.json


def run_folder(out: Path, run: PlannedRun) -> Path:
    """OUT/runs/<task>--<model label>--<short hash of the run key>/ (stable for the same run)."""
    digest = hashlib.sha256(run.key.encode()).hexdigest()[:8]
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in run.model.label)
    return out / "runs" / f"{run.task}--{safe}--{digest}"


def measured(result: TaskResult, value: PublishedValue, how: Measure) -> tuple[float | None, tuple | None]:
    """The measured counterpart of a published value, scaled, with its CI (None where the result has none)."""
    name = how.metric
    if how.category is not None:
        if value.category == "macro_avg":
            name = how.average
        else:
            row = next((r for r in result.per_category if r.category == category_name(value.category)), None)
            got = None if row is None else row.metrics.get(how.category)
            return (None if got is None else got * how.scale), None
    metric = result.metrics.get(name) if name else None
    if metric is None or metric.value is None:
        return None, None
    ci = None
    if metric.ci is not None and metric.ci.low is not None and metric.ci.high is not None:
        ci = (metric.ci.low * how.scale, metric.ci.high * how.scale)
    return metric.value * how.scale, ci


def execute(plan: Plan, rows_of: Callable[[Cell], list[PublishedValue]], data_root: Path, out: Path,
            **options: Any) -> Outcome:
    """Run every planned evaluation (`options`: the facade's, e.g. bootstrap, limit, device, cache_dir) and judge
    every published value of every cell; a run that fails or is skipped makes its rows "not run" with the reason."""
    from msxr_bench.evaluation import EvaluationError, evaluate

    comparisons = list(plan.not_run)
    folders: dict[str, Path] = {}
    for run in plan.runs:
        folder = run_folder(out, run)
        result, why = None, None
        try:
            got = evaluate(run.model.adapter, [run.task], data_root, model_args=dict(run.model.options),
                           task_params={run.task: run.params}, output=folder, **options)
            result = got.get(run.task)
            why = None if result is not None else "the model cannot run this task (skipped)"
        except EvaluationError as exc:
            why = "; ".join(exc.failures.values())
        except (ValueError, OSError, RuntimeError) as exc:
            why = f"{type(exc).__name__}: {exc}"
        folders[run.key] = folder
        for cell, method in run.cells:
            for value in (v for v in rows_of(cell) if v.row_label == method):
                if result is None:
                    comparisons.append(judge(value, run.model.label, None, None, not_run=why))
                    continue
                number, ci = measured(result, value, cell.measure[value.metric])
                comparisons.append(judge(value, run.model.label, number, ci, cell.protocol_differs))
    comparisons.sort(key=lambda c: (c.value.paper_key, c.value.line, c.model))  # the paper's order
    return Outcome(comparisons, folders)
