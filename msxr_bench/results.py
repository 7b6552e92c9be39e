"""The results file of one (model, task) run: pydantic models that validate it, and provenance collection.

What a metric means lives in `metrics/` and `tasks/`; this module only says what a results JSON must hold.
Regenerate the published JSON Schema with `python -m msxr_bench.results schemas/results.schema.json`.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator, model_validator

SCHEMA_VERSION = "2.0.0"
SCHEMA_VERSIONS = ("1.0.0", "2.0.0")  # files of both validate; v1 files lack protocol and row_key
PROVENANCE_PACKAGES = (
    "msxr-bench", "torch", "numpy", "scipy", "pandas", "pydicom", "scikit-image",
    "transformers", "pydantic", "click", "matplotlib",
)
SampleValue = str | int | float | bool | None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", ser_json_inf_nan="null")


class ConfidenceInterval(_Strict):
    low: float | None
    high: float | None
    level: float = 0.95
    n_resamples: int
    seed: int
    method: str = "percentile bootstrap over samples"


class Metric(_Strict):
    value: float | None
    ci: ConfidenceInterval | None = None
    n: int = Field(description="samples the value was computed on")
    note: str | None = None


class CategoryRow(_Strict):
    category: str
    n: int
    metrics: dict[str, float | None] = Field(description="null where the category has nothing to score")

    @field_validator("metrics")
    @classmethod
    def _nan_is_null(cls, metrics: dict[str, float | None]) -> dict[str, float | None]:
        """NaN (nothing to score) is stored as null: a table read back equals the one computed."""
        return {k: None if v is None or math.isnan(v) else v for k, v in metrics.items()}


class MainScore(_Strict):
    name: str
    value: float | None


class TaskInfo(_Strict):
    name: str
    version: str
    type: str
    description: str
    main_score: str


class FileRecord(_Strict):
    role: str
    name: str
    sha256: str


class DatasetInfo(_Strict):
    name: str
    version: str | None
    split: str
    split_scheme: str | None = None
    sample_ids_sha256: str = Field(description="sha256 of the sorted sample ids joined by newlines")
    n_samples_available: int = Field(description="samples in the split before --limit")
    n_samples: int = Field(description="samples evaluated (after --limit)")
    n_scored: int = Field(description="samples with a score (n_samples minus skips)")
    limit: int | None = None
    files: list[FileRecord] = []


class AdapterMetaRecord(_Strict):
    """Who the model is and where its weights come from (`adapters.base.AdapterMeta` is this, validated)."""

    name: str = Field(min_length=1)
    version: str
    description: str = ""
    weights_source: str = Field(description='hub id, URL or local path ("random" for untrained weights)')
    weights_revision: str | None = Field(default=None, description="pinned hub revision / tag")
    weights_sha256: str | None = Field(default=None, description="of the weights actually loaded")
    embedding_dim: int | None = Field(default=None, description="required of adapters with embeddings")
    training_data: tuple[str, ...] = Field(default=(), description='e.g. ["MIMIC-CXR"]: the leaderboard flags overlap')
    licence: str = "unknown"
    map_rescale: Literal["none", "minmax"] = "none"


class AdapterRecord(_Strict):
    name: str = Field(description="the name the adapter was built by (registry name)")
    identity: str
    options: dict[str, str] = {}
    capabilities: list[str] | None = Field(default=None, description="declared capabilities (v2)")
    meta: AdapterMetaRecord
    geometry: dict[str, JsonValue] | None = Field(description="input geometry; null for text-only adapters")
    max_text_tokens: int | None = None
    remote: dict[str, JsonValue] | None = Field(default=None, description="a remote model's worker: its device, "
                                                "precision and environment (python, numpy)")


class ProtocolRecord(_Strict):
    """The named protocol a result was computed under: release + split rule, and what every quantity means."""

    name: str
    description: str
    origin: str = ""
    split: str
    definitions: dict[str, str] = {}


class SkipRecord(_Strict):
    source: str
    total: int
    counts: dict[str, int]
    examples: dict[str, list[str]]


class GitInfo(_Strict):
    commit: str
    dirty: bool


class Provenance(_Strict):
    harness_version: str
    python: str
    platform: str
    packages: dict[str, str]
    git: GitInfo | None = None
    device: str
    device_name: str
    precision: Literal["fp32", "bf16", "fp16"]
    autocast: bool
    seed: int
    batch_size: int
    num_workers: int
    started_at: str
    wall_time_s: float
    argv: list[str]


class TaskResult(_Strict):
    schema_version: Literal["1.0.0", "2.0.0"] = Field(description="required: a file states its schema version")
    task: TaskInfo
    protocol: ProtocolRecord | None = Field(default=None, description="required from schema 2.0.0 on")
    dataset: DatasetInfo
    adapter: AdapterRecord
    scoring: dict[str, JsonValue] = Field(description="every scoring choice, by name")
    main_score: MainScore
    metrics: dict[str, Metric]
    per_category: list[CategoryRow] = []
    row_key: list[str] = Field(default=["sample_id"], min_length=1,
                               description="the row fields that identify a row (unique per file)")
    contains_dataset_text: bool = Field(default=False, description="true only for --keep-text runs: not shareable")
    samples: list[dict[str, SampleValue]] = Field(description="one row per scored sample, keyed by row_key")
    skipped: list[SkipRecord] = []
    notes: list[str] = []
    provenance: Provenance

    @model_validator(mode="after")
    def _consistent(self) -> "TaskResult":
        if self.main_score.name not in self.metrics:
            raise ValueError(f"main score {self.main_score.name!r} is not among the metrics")
        a, b = self.main_score.value, self.metrics[self.main_score.name].value
        both_nan = a is not None and b is not None and math.isnan(a) and math.isnan(b)
        if not (a == b or (a is None and b is None) or both_nan):
            raise ValueError(f"main score value {a} differs from metrics[{self.main_score.name!r}] = {b}")
        if self.schema_version != "1.0.0" and self.protocol is None:
            raise ValueError(f"schema {self.schema_version} requires a protocol record")
        seen: set[tuple] = set()
        for i, row in enumerate(self.samples):
            if not isinstance(row.get("sample_id"), str):
                raise ValueError(f"samples[{i}] has no string 'sample_id'")
            missing = [k for k in self.row_key if k not in row]
            if missing:
                raise ValueError(f"samples[{i}] lacks the row key field(s) {missing}")
            key = tuple(row[k] for k in self.row_key)
            if key in seen:
                raise ValueError(f"samples[{i}]: duplicate row key {dict(zip(self.row_key, key))}")
            seen.add(key)
        return self

    @property
    def skipped_total(self) -> int:
        """Samples (or loader rows) skipped while loading or scoring, over every skip record."""
        return sum(s.total for s in self.skipped)

    def __str__(self) -> str:
        from msxr_bench.table import format_result

        return format_result(self)

    def to_dataframe(self):
        """The per-sample rows as a pandas DataFrame (one row per `row_key`)."""
        import pandas as pd

        return pd.DataFrame(self.samples)


# ---- reading, writing, schema ---------------------------------------------------------------------
def result_stem(task: str, protocol: str, default_protocol: str) -> str:
    """Name of a result (its file stem, its leaderboard setting): the task, plus "@<protocol>" when the protocol is
    not the task's default (characters other than letters, digits, '.', '-', '_' and '=' become '-')."""
    if protocol == default_protocol:
        return task
    return f"{task}@" + "".join(c if c.isalnum() or c in ".-_=" else "-" for c in protocol)


def write_atomic(path: Path, text: str) -> Path:
    """Write `text` to `path` through a temporary file in the same folder and a rename: a reader sees the old
    file or the new one, never half of one (an interrupted run leaves no truncated JSON)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_result(result: TaskResult, path: Path) -> Path:
    return write_atomic(path, result.model_dump_json(indent=1) + "\n")


def load_result(path: Path) -> TaskResult:
    """Read and validate a results JSON; a clear error names the file when it does not validate."""
    path = Path(path)
    try:
        return TaskResult.model_validate_json(path.read_text())
    except ValueError as exc:
        raise ValueError(f"{path}: not a valid msxr-bench results file:\n{exc}") from exc


def results_json_schema() -> dict:
    schema = TaskResult.model_json_schema()
    schema["$id"] = f"https://msxr-bench/schemas/results-{SCHEMA_VERSION}.json"
    schema["title"] = "msxr-bench task result"
    return schema


def schema_text() -> str:
    return json.dumps(results_json_schema(), indent=2, sort_keys=True) + "\n"


# ---- provenance -----------------------------------------------------------------------------------
def package_versions(names: tuple[str, ...] = PROVENANCE_PACKAGES) -> dict[str, str]:
    out = {}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


def git_info(where: Path | None = None) -> GitInfo | None:
    """The commit of the checkout the harness runs from, or None outside a git checkout."""
    where = where or Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=10)
        if commit.returncode != 0:
            return None
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where,
                                capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return GitInfo(commit=commit.stdout.strip(), dirty=bool(status.stdout.strip()))


def collect_provenance(*, device: str, device_name: str, precision: str, autocast: bool, seed: int,
                       batch_size: int, num_workers: int, started: datetime, wall_time_s: float,
                       argv: list[str] | None = None) -> Provenance:
    packages = package_versions()
    return Provenance(
        harness_version=packages.get("msxr-bench", "unknown"),
        python=platform.python_version(),
        platform=platform.platform(),
        packages=packages,
        git=git_info(),
        device=device,
        device_name=device_name,
        precision=precision,
        autocast=autocast,
        seed=seed,
        batch_size=batch_size,
        num_workers=num_workers,
        started_at=started.astimezone(timezone.utc).isoformat(timespec="seconds"),
        wall_time_s=round(wall_time_s, 3),
        argv=list(sys.argv if argv is None else argv),
    )


if __name__ == "__main__":  # python -m msxr_bench.results [PATH]
    if len(sys.argv) > 1:
        Path(sys.argv[1]).write_text(schema_text())
    else:
        sys.stdout.write(schema_text())
