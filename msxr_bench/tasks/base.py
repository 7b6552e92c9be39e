"""The shape of every task: `load` (the samples of a protocol and split), `score` (per-sample rows, using the
model through the run's engine), `metrics` (rows -> statistics). The driver (`driver.py`) owns everything else.

`metrics(rows)` is the one definition of a task's numbers: the run computes them with it, and `leaderboard
validate` and `compare` recompute them from a results file's rows with it.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import torch

from msxr_bench.data.types import SkipReport
from msxr_bench.hashing import file_sha256
from msxr_bench.metrics.bootstrap import bootstrap_ci
from msxr_bench.results import CategoryRow, ConfidenceInterval, FileRecord, Metric
from msxr_bench.tasks.spec import ProtocolSpec, TaskParams, TaskSpec

if TYPE_CHECKING:
    from msxr_bench.tasks.context import RunContext

CI_ALPHA = 0.05
Statistic = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (data [N, k], resampled idx [B, N]) -> [B]


class RowError(ValueError):
    """A per-sample row lacks a field the task's metrics are computed from, or holds a value of the wrong type."""


@dataclass(frozen=True)
class RowStatistic:
    """One reported metric as a function of the rows: columns [N, k] and a statistic over resampled row indices."""

    data: torch.Tensor  # [N, k] float64 columns from the rows (NaN where the row holds null)
    statistic: Statistic
    n: int  # the `n` recorded with this metric
    strata: torch.Tensor | None = None  # bootstrap resampling strata (MS-CXR: category)
    with_ci: bool = True  # whether this metric gets a bootstrap CI
    note: str | None = None
    check_note: bool = True  # False when the note depends on something the rows do not hold

    def value(self) -> float:
        return float(self.statistic(self.data, torch.arange(self.data.shape[0])[None])[0])

    def metric(self, n_bootstrap: int, seed: int) -> Metric:
        """The recorded `Metric`: value, seeded percentile 95% CI over resampled rows (none if n_bootstrap is 0)."""
        ci = None
        if self.with_ci and n_bootstrap > 0:
            items = torch.arange(self.data.shape[0])
            boot = bootstrap_ci(items, lambda _, idx: self.statistic(self.data, idx), n_resamples=n_bootstrap,
                                seed=seed, alpha=CI_ALPHA, strata=self.strata)
            method = "percentile bootstrap over samples" + (", stratified by category" if self.strata is not None
                                                            else "")
            ci = ConfidenceInterval(low=_finite(boot.low), high=_finite(boot.high), level=1 - CI_ALPHA,
                                    n_resamples=boot.n_resamples, seed=boot.seed, method=method)
        return Metric(value=_finite(self.value()), ci=ci, n=self.n, note=self.note)


def _finite(value: float | None) -> float | None:
    """NaN is recorded as null (as the JSON file holds it), so a result equals itself read back."""
    return None if value is None or math.isnan(value) else value


@dataclass
class Loaded:
    """The samples of one protocol and split, with what the results record about them."""

    samples: list[Any]
    ids: list[str]  # sample ids, in `samples` order (hashed into dataset.sample_ids_sha256)
    dataset_version: str | None
    split: str  # as recorded in dataset.split
    files: list[FileRecord]
    skips: list[SkipReport] = field(default_factory=list)
    split_scheme: str | None = None
    split_record: dict[str, Any] = field(default_factory=dict)  # how the split was made (scoring.split)
    pool: list[Any] | None = None  # every loaded sample before the split/limit (e.g. the phrase-control pool)
    context: dict[str, Any] = field(default_factory=dict)  # what `score` needs from `load` (not recorded)
    # the recorded protocol name/description when they differ from the spec's (a parameterised protocol records
    # a hash of its sample-id list, never a local path)
    protocol_name: str | None = None
    protocol_description: str | None = None


@dataclass
class Scored:
    rows: list[dict[str, Any]]
    scoring: dict[str, Any]  # every scoring choice of this run, by name
    skips: list[SkipReport] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class Task(ABC):
    """One task type; instances are built from their `TaskSpec` (`spec.task()`)."""

    def __init__(self, spec: TaskSpec) -> None:
        self.spec = spec

    @abstractmethod
    def load(self, params: TaskParams, protocol: ProtocolSpec, split: str, data_root: Path) -> Loaded:
        """The samples of `protocol`/`split` under `data_root` (no model involved)."""

    @abstractmethod
    def score(self, samples: Sequence[Any], loaded: Loaded, params: TaskParams, run: "RunContext") -> Scored:
        """Per-sample rows of `samples` (after --limit), computed with `run.adapter` through the run's engine."""

    @abstractmethod
    def metrics(self, rows: Sequence[Mapping[str, Any]], scoring: Mapping[str, Any]) -> dict[str, RowStatistic]:
        """Every reported metric as a function of the rows (RowError on malformed rows)."""

    def per_category(self, rows: Sequence[Mapping[str, Any]]) -> list[CategoryRow] | None:
        """The per-category table recomputed from the rows, for tasks that have categories."""
        return None

    def no_direction(self) -> frozenset[str]:
        """Metrics for which "higher is better" does not hold (controls, raw similarities): compare gives them
        no regression verdict."""
        return frozenset()


# ---- reading row columns (shared by every task's `metrics`) ------------------------------------------------
def number_column(rows: Sequence[Mapping[str, Any]], name: str, *, allow_null: bool = True) -> torch.Tensor:
    """[N] float64 of a numeric row field (null -> NaN when allowed); RowError names the first bad row."""
    out = []
    for i, row in enumerate(rows):
        if name not in row:
            raise RowError(f"samples[{i}] ({row.get('sample_id')!r}): missing field {name!r}")
        v = row[name]
        if v is None and allow_null:
            out.append(math.nan)
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out.append(float(v))
        else:
            raise RowError(f"samples[{i}] ({row.get('sample_id')!r}).{name}: expected a number, got {v!r}")
    return torch.tensor(out, dtype=torch.float64)


def label_column(rows: Sequence[Mapping[str, Any]], name: str, allowed: Sequence[str] | None = None) -> list[str]:
    """The string values of a row field (optionally one of `allowed`)."""
    out = []
    for i, row in enumerate(rows):
        v = row.get(name)
        if not isinstance(v, str) or (allowed is not None and v not in allowed):
            want = f"one of {', '.join(allowed)}" if allowed is not None else "a string"
            raise RowError(f"samples[{i}] ({row.get('sample_id')!r}).{name}: expected {want}, got {v!r}")
        out.append(v)
    return out


def file_record(role: str, path: Path) -> FileRecord:
    """Which file a result was computed from: its role, name (never its folder: paths are local) and sha256."""
    return FileRecord(role=role, name=Path(path).name, sha256=file_sha256(path))


def finite_count(values: torch.Tensor) -> int:
    return int(torch.isfinite(values).sum())


def group_mean(values: torch.Tensor, member: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """NaN-aware mean of values[idx] over the resampled items that are members of a group: [B]."""
    from msxr_bench.metrics.aggregation import micro_mean

    v = values[idx].to(torch.float64)
    return micro_mean(torch.where(member[idx], v, torch.nan))
