"""`run.json`: what one `evaluate` run set out to do and what it wrote, beside its results files.

It names the command, each requested task's status (completed / skipped / failed / interrupted / pending), and
for each written file its sha256 and configuration hash. A folder then says by itself whether it holds the
results of one run: `check_run_folder` (used by `leaderboard validate` and `compare`) flags a results file that the
manifest does not list, or whose bytes differ from what the run wrote (an older file of another configuration).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from msxr_bench.hashing import file_sha256
from msxr_bench.results import TaskResult, write_atomic

MANIFEST_NAME = "run.json"
FORMAT = "msxr-bench run manifest 1"
Status = Literal["pending", "running", "completed", "skipped", "failed", "interrupted"]


class TaskEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Status = "pending"
    file: str | None = None
    sha256: str | None = None
    config_sha256: str | None = None
    reason: str | None = None


class RunManifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal["msxr-bench run manifest 1"] = FORMAT
    run_id: str
    status: Literal["running", "completed", "failed", "interrupted"] = "running"
    command: list[str]
    model: str
    started_at: str
    finished_at: str | None = None
    tasks: dict[str, TaskEntry]


def config_sha256(result: TaskResult) -> str:
    """sha256 of what makes a result comparable to another run's: task and version, protocol, split, sample set,
    parameters, adapter identity and options, seed, limit, precision (recomputable from the file alone)."""
    fields = {
        "task": result.task.name, "version": result.task.version,
        "protocol": result.protocol.name if result.protocol else None,
        "dataset": [result.dataset.version, result.dataset.split, result.dataset.split_scheme,
                    result.dataset.sample_ids_sha256, result.dataset.limit],
        "parameters": result.scoring.get("parameters"), "adapter": [result.adapter.identity, result.adapter.options],
        "seed": result.provenance.seed, "precision": result.provenance.precision,
    }
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class RunRecorder:
    """Keeps `OUTPUT/<model>/run.json` up to date as a run proceeds (each write atomic)."""

    def __init__(self, folder: Path, command: list[str], model: str, tasks: list[str]) -> None:
        self.path = Path(folder) / MANIFEST_NAME
        self.manifest = RunManifest(run_id=uuid.uuid4().hex, command=list(command), model=model, started_at=_now(),
                                    tasks={t: TaskEntry() for t in tasks})
        self._write()

    def _write(self) -> None:
        write_atomic(self.path, self.manifest.model_dump_json(indent=1) + "\n")

    def set(self, task: str, status: Status, reason: str | None = None, result: TaskResult | None = None,
            path: Path | None = None) -> None:
        entry = TaskEntry(status=status, reason=reason)
        if result is not None and path is not None:
            entry = TaskEntry(status=status, reason=reason, file=Path(path).name, sha256=file_sha256(path),
                              config_sha256=config_sha256(result))
        self.manifest.tasks[task] = entry
        self._write()

    def finish(self, status: Literal["completed", "failed", "interrupted"]) -> None:
        for entry in self.manifest.tasks.values():
            if status == "interrupted" and entry.status in ("pending", "running"):
                entry.status = "interrupted"
        self.manifest.status = status
        self.manifest.finished_at = _now()
        self._write()


def read_manifest(folder: Path) -> RunManifest | None:
    """The manifest of a results folder, None when it has none (ValueError when it is not valid)."""
    path = Path(folder) / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        return RunManifest.model_validate_json(path.read_text())
    except (ValidationError, ValueError) as exc:
        raise ValueError(f"{path}: not a valid run manifest: {exc}") from None


def check_run_folder(folder: Path, files: list[Path]) -> list[str]:
    """Problems of a results folder whose `run.json` exists: `files` (results JSONs of the folder) must each be
    listed as completed with the bytes the run wrote; the run must not have stopped before finishing."""
    manifest = read_manifest(folder)
    if manifest is None:
        return []
    problems = []
    by_file = {e.file: (task, e) for task, e in manifest.tasks.items() if e.file}
    for path in files:
        hit = by_file.get(path.name)
        if hit is None:
            problems.append(f"{path.name}: not written by the run of {MANIFEST_NAME} (run {manifest.run_id[:8]}): a "
                            "file of another run or configuration")
        elif hit[1].status != "completed" or hit[1].sha256 != file_sha256(path):
            problems.append(f"{path.name}: differs from what run {manifest.run_id[:8]} wrote (edited, or left from "
                            "another run)")
    if manifest.status != "completed":
        unfinished = [t for t, e in manifest.tasks.items() if e.status not in ("completed", "skipped")]
        problems.append(f"{MANIFEST_NAME}: the run {manifest.status}" + (f" (not completed: {', '.join(unfinished)})"
                                                                         if unfinished else ""))
    return problems
