"""What `reproduce` would run: the user's models assigned to the paper's methods, one evaluation per distinct
(task, parameters, model) shared by every cell that needs it, and each published row that cannot run with its reason
(no such task here yet, no model for that method, data missing, the model lacks a capability). No compute."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from msxr_bench.preflight import PreflightError, preflight
from msxr_bench.reproduce.recipe import Cell, Recipe
from msxr_bench.reproduce.verdict import Comparison, judge
from msxr_bench.tasks.catalog import TASKS

# rough seconds per sample on 2 CPU cores with a ResNet-50-size model (for --plan only; a GPU is ~20x faster)
SECONDS_PER_SAMPLE = {"phrase-grounding": 0.35, "zero-shot-classification": 0.3, "zero-shot-segmentation": 0.3,
                      "text-similarity": 0.01, "nli-fine-tuning": 2.0}


@dataclass(frozen=True)
class ModelChoice:
    label: str  # how the report names it (the adapter name, or METHOD=ADAPTER's adapter)
    adapter: str
    options: tuple[tuple[str, str], ...] = ()


@dataclass
class PlannedRun:
    task: str
    params: dict[str, Any]
    model: ModelChoice
    cells: list[tuple[Cell, str]] = field(default_factory=list)  # (cell, the paper's method it plays)
    n_samples: int = 0

    @property
    def key(self) -> str:
        return json.dumps([self.task, self.params, self.model.adapter, self.model.options], sort_keys=True)


@dataclass
class Plan:
    runs: list[PlannedRun]
    not_run: list[Comparison]

    def estimate_seconds(self) -> float:
        return sum(SECONDS_PER_SAMPLE.get(TASKS[r.task].type, 0.3) * r.n_samples for r in self.runs)


def assign_models(recipe: Recipe, specs: Sequence[str], args: Sequence[str]) -> dict[str, ModelChoice]:
    """The paper's method -> the model playing it. `specs`: "ADAPTER" (every method the recipe gives to that
    adapter by default) or "METHOD=ADAPTER"; `args`: "MODEL:KEY=VALUE" (MODEL = an adapter or a method), or
    "KEY=VALUE" when one model is given."""
    options: dict[str, dict[str, str]] = {}
    for arg in args:
        head, sep, value = arg.partition("=")
        who, colon, key = head.rpartition(":")
        if not sep or not key or (not colon and len(specs) != 1):
            raise ValueError(f"--model-arg expects MODEL:KEY=VALUE (or KEY=VALUE with one --model), got {arg!r}")
        options.setdefault(who if colon else specs[0].partition("=")[2] or specs[0], {})[key] = value
    chosen: dict[str, ModelChoice] = {}
    for spec in specs:
        method, eq, adapter = spec.partition("=")
        if eq:
            methods = [method]
            if method not in {v.row_label for v in recipe.values()}:
                raise ValueError(f"--model {spec}: the paper has no method {method!r}; methods: "
                                 + ", ".join(sorted({v.row_label for v in recipe.values()})))
        else:
            adapter, methods = method, [m for m, a in recipe.methods.items() if a == method]
            if not methods:
                raise ValueError(f"--model {spec}: the recipe gives no method to {spec!r} by default; use "
                                 "--model 'METHOD=ADAPTER' (methods: see the report or --plan)")
        opts = {**options.get(adapter, {}), **{k: v for m in methods for k, v in options.get(m, {}).items()}}
        for m in methods:
            chosen[m] = ModelChoice(adapter if not eq else f"{adapter} as {m}", adapter, tuple(sorted(opts.items())))
    return chosen


def make_plan(recipe: Recipe, models: Mapping[str, ModelChoice], data_root: Path,
              overrides: Mapping[str, Mapping[str, Any]] | None = None) -> Plan:
    """The runs that would reproduce every cell the data and models allow, and why the other rows would not run."""
    overrides = overrides or {}
    runs: dict[str, PlannedRun] = {}
    checked: dict[str, str | None] = {}
    not_run: list[Comparison] = []
    for cell in recipe.cell:
        rows = recipe.rows_of(cell)
        if cell.task not in TASKS:
            not_run += [judge(v, "", None, None, not_run=f"task {cell.task!r} is not in this harness") for v in rows]
            continue
        for method in dict.fromkeys(v.row_label for v in rows):
            mine = [v for v in rows if v.row_label == method]
            model = models.get(method)
            if model is None:
                reason = f"no model given for {method!r} (--model '{method}=ADAPTER')"
                not_run += [judge(v, "", None, None, not_run=reason) for v in mine]
                continue
            run = PlannedRun(cell.task, {**cell.params, **overrides.get(cell.task, {})}, model)
            if run.key not in checked:
                checked[run.key] = _why_not(run, data_root)
            if checked[run.key] is not None:
                not_run += [judge(v, model.label, None, None, not_run=checked[run.key]) for v in mine]
                continue
            runs.setdefault(run.key, run).cells.append((cell, method))
    return Plan(list(runs.values()), not_run)


def _why_not(run: PlannedRun, data_root: Path) -> str | None:
    """None when the run can start (preflight passes and the model has what the task needs), else why not."""
    try:
        plan = preflight(run.model.adapter, [run.task], data_root, dict(run.model.options), {run.task: run.params})
    except PreflightError as exc:
        return "; ".join(exc.problems)
    if run.task in plan.skipped:
        return plan.skipped[run.task]
    planned = plan.tasks[0]
    try:
        run.n_samples = len(planned.spec.task().load(planned.params, planned.protocol, planned.split, data_root).ids)
    except (ValueError, OSError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None
