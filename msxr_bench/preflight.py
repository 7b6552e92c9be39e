"""Everything that can be checked before a model is built, checked in seconds: task names, typed task parameters
(protocols, splits), the files each task reads, the adapter's options, and that the output folder is writable.
Every problem is collected and reported at once (`PreflightError`); the CLI and `msxr_bench.evaluate` both call it.
"""

from __future__ import annotations

import difflib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from msxr_bench.tasks.catalog import TASKS
from msxr_bench.tasks.spec import ProtocolSpec, TaskParams, TaskSpec


class PreflightError(ValueError):
    """What would make the run fail, found before any compute; one line per problem."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("cannot start:\n  - " + "\n  - ".join(self.problems))


@dataclass(frozen=True)
class PlannedTask:
    spec: TaskSpec
    params: TaskParams
    protocol: ProtocolSpec
    split: str
    files: tuple[Path, ...]


@dataclass
class Plan:
    tasks: list[PlannedTask]
    model_options: dict[str, Any]  # parsed against the adapter's schema (as given when it declares none)
    output: Path | None
    skipped: dict[str, str] = field(default_factory=dict)  # task -> why it will be skipped (capabilities)
    session: Any = None  # a remote model's connected worker (handshake done), reused by the run


def check_output(output: Path) -> str | None:
    """None if results can be written under `output` (created if needed, a probe file written and removed)."""
    try:
        output.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".msxr-write-probe.", dir=output)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        return f"--output {output}: not a writable folder ({exc.strerror or exc})"
    return None


def _task_names(tasks: Sequence[str], problems: list[str]) -> list[str]:
    names = []
    for name in dict.fromkeys(tasks):
        if name in TASKS:
            names.append(name)
            continue
        close = difflib.get_close_matches(name, TASKS, 1)
        problems.append(f"unknown task {name!r}" + (f" (did you mean {close[0]}?)" if close else "")
                        + f"; tasks: {', '.join(TASKS)}")
    if not tasks:
        problems.append("no task requested")
    return names


def _plan_task(spec: TaskSpec, values: Mapping[str, Any], data_root: Path, problems: list[str]) -> PlannedTask | None:
    from msxr_bench.data.types import DatasetFormatError
    from msxr_bench.tasks.spec import TaskParamsError

    try:
        params = spec.make_params(values)
        protocol = spec.protocol(params.protocol)
        split = spec.resolve_split(protocol, params.split)
    except TaskParamsError as exc:
        problems.append(str(exc))
        return None
    try:
        files = tuple(spec.locate_files(data_root, protocol, split))
    except (DatasetFormatError, OSError) as exc:
        problems.append(f"{spec.name}: {exc}")
        return None
    return PlannedTask(spec, params, protocol, split, files)


def _remote_session(options: dict, problems: list[str]) -> tuple[Any, tuple[str, ...]]:
    """Start a remote model's worker and check its handshake (meta, capabilities, geometry) before any compute."""
    from msxr_bench.remote.client import connect
    from msxr_bench.remote.protocol import RemoteWorkerError

    try:
        session = connect(options)
    except (RemoteWorkerError, ValueError, OSError) as exc:
        problems.append(f"remote model: {exc}")
        return None, ()
    return session, tuple(sorted(session.handshake.capabilities | {"remote"}))


def _model_options(model: Any, model_args: Mapping[str, Any], problems: list[str]) -> tuple[dict, tuple[str, ...]]:
    """(parsed options, declared capabilities or () when unknown without building the model)."""
    from msxr_bench.adapters.options import AdapterOptionError
    from msxr_bench.adapters.registry import AdapterLoadError, BUILTIN_ADAPTERS, UnknownAdapterError, check_model_options

    if not isinstance(model, str):
        caps = tuple(sorted(getattr(model, "capabilities", ())))
        if model_args:
            problems.append("model_args are options of a model built by name; this adapter is already built")
        return {}, caps
    try:
        options = check_model_options(model, dict(model_args))
    except (UnknownAdapterError, AdapterOptionError, AdapterLoadError) as exc:
        problems.append(str(exc))
        return {}, ()
    entry = BUILTIN_ADAPTERS.get(model)
    return options, tuple(entry.capabilities) if entry else ()


def preflight(model: Any, tasks: Sequence[str], data_root: str | Path, model_args: Mapping[str, Any] | None = None,
              task_params: Mapping[str, Mapping[str, Any]] | None = None, output: str | Path | None = None) -> Plan:
    """The checked plan of a run, or a PreflightError listing every problem. `model` is an adapter name (its options
    are parsed, nothing is built) or an already built adapter."""
    problems: list[str] = []
    names = _task_names(tasks, problems)
    task_params = dict(task_params or {})
    for name in task_params:
        if name not in names:
            problems.append(f"parameters given for {name!r}, which is not among the requested tasks "
                            f"({', '.join(names) or 'none'})")
    data_root = Path(data_root).expanduser()
    if not data_root.is_dir():
        problems.append(f"--data-root {data_root}: no such folder")
    planned = []
    for name in names:
        got = _plan_task(TASKS[name], task_params.get(name, {}), data_root, problems) if data_root.is_dir() else None
        if got is not None:
            planned.append(got)
    options, caps = _model_options(model, model_args or {}, problems)
    out = Path(output).expanduser() if output is not None else None
    if out is not None and (why := check_output(out)):
        problems.append(why)
    session = None
    if model == "remote" and not problems:  # last: a worker is started only when everything else is right
        session, caps = _remote_session(options, problems)
    if problems:
        raise PreflightError(problems)
    skipped = {}
    if caps:
        for p in planned:
            why = p.spec.lacking(caps)
            if why:
                skipped[p.spec.name] = f"the model {why}"
    return Plan(planned, options, out, skipped, session)
