"""`msxr-bench export model-index RESULTS_DIR`: the Hugging Face model-card `model-index` block of validated results.

For each results file: the task (type and name), the dataset with its version, protocol (config) and split, the
metric names and values the task reports, and msxr-bench (with its version) as the source. Never `verified: true`:
the hub reserves it for its own evaluations. Files that hold dataset text or do not re-aggregate are refused.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from msxr_bench.leaderboard.checks import (
    check_board, check_metrics, check_rows, check_task, check_text, load_result,
)
from msxr_bench.results import TaskResult
from msxr_bench.tasks.catalog import TASKS

HF_TASK_TYPES = {  # the hub's task ids, where one fits; else the toolkit's task type
    "zero-shot-classification": "zero-shot-image-classification",
    "text-similarity": "sentence-similarity",
    "nli-fine-tuning": "text-classification",
}


class ExportError(ValueError):
    """A results file that cannot be exported (invalid, or not shareable); the message names it."""


def _load(path: Path) -> tuple[TaskResult, bool]:
    """The validated result and whether it is a toy-world run (its sample set is the bundled fixture's)."""
    result, issues = load_result(path)
    if result is not None:
        issues = check_task(path, result) or (check_rows(path, result) + check_text(path, result)
                                             + check_metrics(path, result, with_ci=False))
    if result is None or issues:
        raise ExportError(f"{path} cannot be exported:\n  " + "\n  ".join(map(str, issues)))
    return result, check_board(path, result)[1] == "toyworld"


def result_entry(result: TaskResult, toy: bool = False) -> dict[str, Any]:
    """One `results` item of a model-index block (`toy`: synthetic data in the dataset's format, said so)."""
    spec = TASKS[result.task.name]
    metrics = [name for name in spec.metrics if name in result.metrics and result.metrics[name].value is not None]
    kind = result.dataset.name.split(" ")[0].lower()
    dataset: dict[str, Any] = {
        "type": f"msxr-bench-toyworld-{kind}" if toy else kind,
        "name": f"{result.dataset.name} format, msxr-bench toy world (synthetic)" if toy else result.dataset.name,
        "split": result.dataset.split}
    if result.protocol is not None:
        dataset["config"] = result.protocol.name
    if result.dataset.version:
        dataset["revision"] = result.dataset.version
    return {
        "task": {"type": HF_TASK_TYPES.get(result.task.type, result.task.type), "name": result.task.description},
        "dataset": dataset,
        "metrics": [{"type": m, "value": round(float(result.metrics[m].value), 6),
                     "name": m + (" (main score)" if m == result.main_score.name else "")} for m in metrics],
        "source": {"name": f"msxr-bench {result.provenance.harness_version} ({result.task.name} "
                           f"v{result.task.version})"},
    }


def model_index(paths: list[Path], model_name: str | None = None) -> dict[str, Any]:
    """The `model-index` mapping for the results files `paths` (or every results JSON of the folders given)."""
    files: list[Path] = []
    for p in paths:
        p = Path(p)
        files += sorted(f for f in p.glob("*.json") if f.name not in ("run.json", "model.json")) if p.is_dir() else [p]
    if not files:
        raise ExportError("no results file given")
    loaded = [_load(f) for f in files]
    name = model_name or loaded[0][0].adapter.name
    return {"model-index": [{"name": name, "results": [result_entry(r, toy) for r, toy in loaded]}]}


def to_yaml(value: Any, indent: int = 0) -> str:
    """Block YAML of plain data (dicts, lists, strings, numbers, booleans); strings double-quoted (JSON escapes)."""
    pad = " " * indent
    if isinstance(value, dict):
        lines = []
        for k, v in value.items():
            if isinstance(v, (dict, list)) and v:
                lines.append(f"{pad}{k}:\n{to_yaml(v, indent + 2)}")
            else:
                lines.append(f"{pad}{k}: {_scalar(v)}")
        return "\n".join(lines)
    if isinstance(value, list):
        lines = []
        for item in value:
            text = to_yaml(item, indent + 2) if isinstance(item, (dict, list)) else f"{pad}  {_scalar(item)}"
            lines.append(f"{pad}- {text.lstrip()}")
        return "\n".join(lines)
    return pad + _scalar(value)


def _scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if v is None:
        return "null"
    if isinstance(v, (dict, list)):
        return "{}" if isinstance(v, dict) else "[]"
    return json.dumps(str(v), ensure_ascii=False)
