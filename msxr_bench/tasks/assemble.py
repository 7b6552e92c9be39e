"""Pieces every task run shares: --limit, sample-id hashing, skip reports, and the final TaskResult.

No scoring here: tasks decide what the numbers are, this module only records them with their provenance.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence, TypeVar

from msxr_bench.data.types import SkipReport
from msxr_bench.hashing import file_sha256
from msxr_bench.engine.images import ImageFailure
from msxr_bench.results import (
    AdapterMetaRecord, AdapterRecord, CategoryRow, DatasetInfo, FileRecord, MainScore, Metric, SkipRecord,
    TaskInfo, TaskResult, collect_provenance,
)
from msxr_bench.tasks.spec import EvalContext, TaskSpec

T = TypeVar("T")
ALL_EXAMPLES = 1_000_000  # skip reports written by the engine list every skipped sample


class EmptySplitError(ValueError):
    """The chosen dataset/split has no sample to evaluate."""


@dataclass
class RunClock:
    started: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    t0: float = field(default_factory=time.perf_counter)

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0






def file_record(role: str, path: Path) -> FileRecord:
    return FileRecord(role=role, name=Path(path).name, sha256=file_sha256(Path(path)))


def apply_limit(samples: list[T], limit: int | None, what: str) -> list[T]:
    """The first `limit` samples (dataset order); an empty result is a clear error naming `what`."""
    if limit is not None and limit < 1:
        raise ValueError(f"--limit must be a positive number of samples, got {limit}")
    if not samples:
        raise EmptySplitError(f"{what}: no samples to evaluate")
    return samples[:limit] if limit is not None else samples


def gather_scores(ctx: EvalContext, scores: dict, failures: list[ImageFailure]) -> tuple[dict, list[ImageFailure]]:
    """Per-image results of every rank (`ctx.gather`), merged; unchanged in a single process."""
    if ctx.gather is None:
        return scores, failures
    merged: dict = {}
    all_failures: list[ImageFailure] = []
    for part_scores, part_failures in ctx.gather((scores, failures)):
        merged.update(part_scores)
        all_failures.extend(part_failures)
    return merged, all_failures


def gathered_names(ctx: EvalContext, names: Sequence[str]) -> list[str]:
    """Sorted names produced by every rank (e.g. heatmap files each rank wrote for its shard)."""
    parts = ctx.gather(list(names)) if ctx.gather is not None else [list(names)]
    return sorted({n for part in parts for n in part})


def image_failure_report(failures: Sequence[ImageFailure], sample_ids_by_image: dict[str, list[str]]) -> SkipReport:
    """One skip per sample whose image is missing or unreadable, every one listed (sample id and path)."""
    report = SkipReport(source="images", max_examples=ALL_EXAMPLES)
    for failure in sorted(failures, key=lambda f: f.item.key):
        for sid in sample_ids_by_image.get(failure.item.key, []):
            report.add(failure.reason, f"{sid} ({failure.item.path}: {failure.detail})")
    return report


def skip_records(reports: Sequence[SkipReport]) -> list[SkipRecord]:
    out = []
    for r in reports:
        if r.total:
            out.append(SkipRecord(source=r.source, total=r.total, counts=dict(r.counts),
                                  examples={k: list(v) for k, v in r.examples.items()}))
    return out


def adapter_record(ctx: EvalContext) -> AdapterRecord:
    a = ctx.adapter
    return AdapterRecord(
        name=ctx.adapter_name,
        identity=a.identity(),
        options=dict(ctx.adapter_options),
        meta=AdapterMetaRecord(**a.meta.to_dict()),
        geometry=a.geometry.to_dict(),
        max_text_tokens=getattr(a, "max_text_tokens", None),
    )


def build_result(spec: TaskSpec, ctx: EvalContext, clock: RunClock, *, dataset: DatasetInfo,
                 scoring: dict[str, Any], metrics: dict[str, Metric], samples: list[dict],
                 per_category: list[CategoryRow] | None = None, skipped: Sequence[SkipReport] = (),
                 notes: Sequence[str] = ()) -> TaskResult:
    """The validated results record of one run (provenance collected now, wall time up to now)."""
    main = metrics[spec.main_score]
    provenance = collect_provenance(
        device=str(ctx.runtime.device), device_name=ctx.runtime.device_name, precision=ctx.runtime.precision,
        autocast=ctx.runtime.autocast, seed=ctx.seed, batch_size=ctx.batch_size, num_workers=ctx.num_workers,
        started=clock.started, wall_time_s=clock.elapsed(), argv=ctx.argv,
    )
    return TaskResult(
        task=TaskInfo(name=spec.name, version=spec.version, type=spec.type, description=spec.description,
                      main_score=spec.main_score),
        dataset=dataset,
        adapter=adapter_record(ctx),
        scoring=scoring,
        main_score=MainScore(name=spec.main_score, value=main.value),
        metrics=metrics,
        per_category=per_category or [],
        samples=samples,
        skipped=skip_records(skipped),
        notes=list(notes),
        provenance=provenance,
    )
