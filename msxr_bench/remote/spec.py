"""How to start a remote adapter's worker (`WorkerSpec`): from `--model-arg` options of the `remote` adapter,
optionally with a spec file naming them. Torch-free; starting the process is client.py's business.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from msxr_bench.adapters.catalog import REMOTE_OPTIONS
from msxr_bench.adapters.options import AdapterOptionError

WORKER_FILE = Path(__file__).resolve().with_name("worker.py")
WORKERS_PACKAGE = "msxr_bench.remote.workers"
ARG_PREFIX = REMOTE_OPTIONS.passthrough or "arg."
SPEC_KEYS = {"python", "command", "entry", "args", "config", "timeout", "startup_timeout", "pythonpath", "env"}


@dataclass(frozen=True)
class WorkerSpec:
    """An entry (`module:callable` or `file.py:callable`) with its keyword arguments, the interpreter or command
    that runs the worker, and the limits on its answers."""

    entry: str
    args: dict[str, Any] = field(default_factory=dict)
    python: str | None = None
    command: tuple[str, ...] = ()
    timeout: float = 300.0
    startup_timeout: float = 600.0
    pythonpath: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.python and self.command:
            raise AdapterOptionError("remote: give python= or command=, not both")
        for name in ("timeout", "startup_timeout"):
            if not getattr(self, name) > 0:
                raise AdapterOptionError(f"remote: {name} must be a positive number of seconds")
        module, sep, attr = self.entry.rpartition(":")
        if not (sep and module and attr):
            raise AdapterOptionError(f"remote: entry must be 'module:callable' or 'file.py:callable', got "
                                     f"{self.entry!r}")

    def argv(self, socket_path: str, harness_pid: int) -> list[str]:
        """The worker's command line."""
        runner = list(self.command) if self.command else [self.python or sys.executable]
        return [*runner, str(WORKER_FILE), "--socket", socket_path, "--harness-pid", str(harness_pid)]

    def shipped_entry(self) -> str:
        """The entry as the worker loads it: files by absolute path; modules of msxr_bench.remote.workers become
        their files, so that they run in environments that never installed msxr-bench."""
        module, _, attr = self.entry.rpartition(":")
        if module.endswith(".py"):  # relative to the harness's folder, wherever the worker starts
            return f"{Path(module).expanduser().resolve()}:{attr}"
        if module.startswith(WORKERS_PACKAGE + "."):
            path = WORKER_FILE.parent / "workers" / (module[len(WORKERS_PACKAGE) + 1:].replace(".", "/") + ".py")
            if path.is_file():
                return f"{path}:{attr}"
        return self.entry

    def child_env(self) -> dict[str, str]:
        """This process's environment without what ties Python to this environment, plus the spec's."""
        env = {k: v for k, v in os.environ.items()
               if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP", "__PYVENV_LAUNCHER__")}
        env["PYTHONUNBUFFERED"] = "1"  # the worker's prints reach the harness's stderr as they happen
        if self.pythonpath:
            env["PYTHONPATH"] = os.pathsep.join(self.pythonpath)
        return {**env, **self.env}


def _json_object(path: str, what: str) -> dict:
    try:
        value = json.loads(Path(path).expanduser().read_text())
    except OSError as exc:
        raise AdapterOptionError(f"remote: cannot read the {what} {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise AdapterOptionError(f"remote: the {what} {path} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise AdapterOptionError(f"remote: the {what} {path} must hold a JSON object")
    return value


def worker_spec(options: Mapping[str, Any]) -> WorkerSpec:
    """The WorkerSpec of `remote`'s options (raw `--model-arg` strings or already parsed)."""
    opts = REMOTE_OPTIONS.parse(options, "remote")
    given = {k: v for k, v in options.items() if v is not None}
    merged: dict[str, Any] = {}
    if opts["spec"]:
        merged = _json_object(opts["spec"], "spec file")
        unknown = sorted(set(merged) - SPEC_KEYS)
        if unknown:
            raise AdapterOptionError(f"remote: spec file {opts['spec']}: unknown keys {unknown} "
                                     f"(known: {', '.join(sorted(SPEC_KEYS))})")
        merged = {k: (REMOTE_OPTIONS.parse({k: v}, "remote")[k]
                      if k in REMOTE_OPTIONS.names and isinstance(v, (str, int, float)) else v)
                  for k, v in merged.items()}
    for name in REMOTE_OPTIONS.names:
        if name in given and name != "spec":
            merged[name] = opts[name]
    if not merged.get("entry"):
        raise AdapterOptionError("remote: entry= is required (module:callable or file.py:callable)")
    args = dict(merged.get("args") or {})
    if not isinstance(merged.get("args") or {}, dict):
        raise AdapterOptionError("remote: 'args' of the spec file must be a JSON object")
    if merged.get("config"):
        args.update(_json_object(merged["config"], "entry config"))
    args.update({k[len(ARG_PREFIX):]: v for k, v in opts.items() if k.startswith(ARG_PREFIX)})
    command = merged.get("command") or ()
    command = tuple(shlex.split(command) if isinstance(command, str) else command)
    pythonpath = merged.get("pythonpath") or ()
    if isinstance(pythonpath, str):
        pythonpath = [p for p in pythonpath.split(os.pathsep) if p]
    env = merged.get("env") or {}
    if not (isinstance(env, dict) and all(isinstance(v, str) for v in env.values())):
        raise AdapterOptionError("remote: 'env' of the spec file must map names to strings")
    limits = {k: float(merged[k] if merged.get(k) is not None else opts[k]) for k in ("timeout", "startup_timeout")}
    return WorkerSpec(entry=merged["entry"], args=args, python=merged.get("python"), command=command, **limits,
                      pythonpath=tuple(str(Path(p).expanduser()) for p in pythonpath), env=dict(env))
