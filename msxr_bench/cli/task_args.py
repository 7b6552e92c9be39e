"""From `evaluate`'s command-line flags to the facade's `task_params` ({task: {key: value}}): `--task-arg
TASK.KEY=VALUE`, `--split` / `--protocol` ([TASK=]VALUE) and the older one-off flags, kept as aliases.
Values are validated later, by each task's typed parameters (preflight)."""

from __future__ import annotations

import json
from typing import Any, Sequence

from msxr_bench.tasks.catalog import TASKS
from msxr_bench.tasks.grounding.spec import VERSION_PROTOCOLS


def _value(text: str) -> Any:
    """JSON when it parses (numbers, booleans, lists: `[0, 1]`, `["a", "b"]`), else the text itself."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _target(task: str, flag: str, value: str, requested: Sequence[str]) -> str:
    if task not in TASKS:
        raise ValueError(f"{flag} {value}: unknown task {task!r} (tasks: {', '.join(TASKS)})")
    if task not in requested:
        raise ValueError(f"{flag} {value}: {task} is not among the requested tasks ({', '.join(requested)})")
    return task


def _set(params: dict[str, dict[str, Any]], task: str, key: str, value: Any, flag: str) -> None:
    here = params.setdefault(task, {})
    if key in here and here[key] != value:
        raise ValueError(f"{flag}: {task}.{key} given twice ({here[key]!r} and {value!r})")
    here[key] = value


def per_task_values(values: Sequence[str], flag: str, key: str, requested: Sequence[str],
                    params: dict[str, dict[str, Any]]) -> None:
    """`--split S` sets every requested task, `--split TASK=S` one task (and wins over the plain form)."""
    common = [v for v in values if "=" not in v]
    if len(common) > 1:
        raise ValueError(f"{flag} given twice without a task: {', '.join(common)} (use TASK=VALUE)")
    specific = {}
    for value in values:
        if "=" in value:
            task, _, v = value.partition("=")
            specific[_target(task.strip(), flag, value, requested)] = v.strip()
    for task in requested:
        if task in specific:
            _set(params, task, key, specific[task], flag)
        elif common:
            _set(params, task, key, common[0], flag)


def task_params_from_cli(requested: Sequence[str], *, splits: Sequence[str] = (), protocols: Sequence[str] = (),
                         task_args: Sequence[str] = (), ms_cxr_version: str | None = None,
                         split_scheme: str | None = None, positive_prompts: Sequence[str] = (),
                         negative_prompts: Sequence[str] = (), radnli_seeds: str | None = None,
                         radnli_max_epochs: int | None = None) -> dict[str, dict[str, Any]]:
    params: dict[str, dict[str, Any]] = {}
    for arg in task_args:
        head, sep, value = arg.partition("=")
        task, dot, key = head.rpartition(".")
        if not sep or not dot or not key:
            raise ValueError(f"--task-arg expects TASK.KEY=VALUE, got {arg!r}")
        _set(params, _target(task.strip(), "--task-arg", arg, requested), key.strip(), _value(value), "--task-arg")
    per_task_values(splits, "--split", "split", requested, params)
    per_task_values(protocols, "--protocol", "protocol", requested, params)
    aliases: list[tuple[str, str, Any, str]] = []  # (task, key, value, flag)
    if ms_cxr_version is not None:
        for task in ("ms-cxr", "ms-cxr-boxes"):
            aliases.append((task, "protocol", VERSION_PROTOCOLS[ms_cxr_version], "--ms-cxr-version"))
    for task in ("rsna-cls", "rsna-seg"):
        if split_scheme is not None:
            aliases.append((task, "protocol", split_scheme, "--split-scheme"))
        if positive_prompts:
            aliases.append((task, "positive_prompts", list(positive_prompts), "--positive-prompt"))
    if negative_prompts:
        aliases.append(("rsna-cls", "negative_prompts", list(negative_prompts), "--negative-prompt"))
    if radnli_seeds:
        try:
            seeds = [int(x) for x in radnli_seeds.split(",")]
        except ValueError:
            raise ValueError(f"--radnli-seeds {radnli_seeds}: expected integers separated by commas") from None
        aliases.append(("radnli", "seeds", seeds, "--radnli-seeds"))
    if radnli_max_epochs is not None:
        aliases.append(("radnli", "max_epochs", radnli_max_epochs, "--radnli-max-epochs"))
    for task, key, value, flag in aliases:
        if task in requested:
            _set(params, task, key, value, flag)
    return params
