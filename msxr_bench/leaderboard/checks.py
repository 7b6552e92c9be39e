"""Checks of one results file: schema, task and version known here, rows consistent with the recorded sample
set, metrics (values, n, notes and bootstrap CIs) recomputed from the rows within 1e-9, the leaderboard's setting
and canonical sample set. Every problem becomes an `Issue` naming the file and the field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from msxr_bench.leaderboard.board import MIN_HARNESS_VERSION, Track, parse_version, setting_of
from msxr_bench.leaderboard.safe_json import UnsafeJSONError, read_json
from msxr_bench.results import Metric, TaskResult
from msxr_bench.tasks.catalog import TASKS
from msxr_bench.tasks.driver import free_text_fields
from msxr_bench.tasks.recompute import RowError, per_category_rows, row_statistics
from msxr_bench.hashing import sample_ids_sha256

TOLERANCE = 1e-9
MAX_CHECKED_RESAMPLES = 10_000


@dataclass(frozen=True)
class Issue:
    path: Path
    field: str  # dotted location in the file ("" = the file itself)
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.field}: {self.message}" if self.field else f"{self.path}: {self.message}"


def pydantic_issues(path: Path, exc: ValidationError) -> list[Issue]:
    out = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        out.append(Issue(path, where, err["msg"] + (" (unexpected field)" if err["type"] == "extra_forbidden" else "")))
    return out


def load_result(path: Path) -> tuple[TaskResult | None, list[Issue]]:
    """A schema-valid results file read safely (size before parsing, no NaN, bounded depth), or its issues."""
    try:
        raw = read_json(path)
    except UnsafeJSONError as exc:
        return None, [Issue(path, "", str(exc).removeprefix(f"{path}: "))]
    try:
        return TaskResult.model_validate(raw), []
    except ValidationError as exc:
        return None, pydantic_issues(path, exc)


def _same(a: float | None, b: float | None) -> bool:
    a_missing = a is None or math.isnan(a)
    b_missing = b is None or math.isnan(b)
    if a_missing or b_missing:
        return a_missing and b_missing
    return math.isclose(a, b, rel_tol=0.0, abs_tol=TOLERANCE)


def check_task(path: Path, r: TaskResult) -> list[Issue]:
    """Task name, version, type and main score known to this harness; harness version recorded."""
    spec = TASKS.get(r.task.name)
    if spec is None:
        return [Issue(path, "task.name", f"unknown task {r.task.name!r} (this harness has {', '.join(TASKS)})")]
    out = []
    if r.task.version != spec.version and r.task.version not in spec.compatible_versions:
        out.append(Issue(path, "task.version", f"{r.task.name} version {r.task.version!r} is not known to this "
                                               f"harness (it runs {r.task.name} {spec.version})"))
    if r.task.main_score != spec.main_score or r.main_score.name != spec.main_score:
        out.append(Issue(path, "task.main_score", f"main score of {r.task.name} is {spec.main_score!r}"))
    if r.task.type != spec.type:
        out.append(Issue(path, "task.type", f"{r.task.name} is a {spec.type!r} task, not {r.task.type!r}"))
    harness = parse_version(r.provenance.harness_version)
    if harness is None:
        out.append(Issue(path, "provenance.harness_version",
                         f"{r.provenance.harness_version!r} is not a recorded msxr-bench version"))
    elif harness < MIN_HARNESS_VERSION:
        oldest = ".".join(map(str, MIN_HARNESS_VERSION))
        out.append(Issue(path, "provenance.harness_version",
                         f"{r.provenance.harness_version} is older than the oldest accepted {oldest}"))
    return out


def check_rows(path: Path, r: TaskResult) -> list[Issue]:
    """Rows = the scored samples (several rows per sample where the row key is composite); the sorted hash of
    their sample ids = dataset.sample_ids_sha256 when nothing was skipped."""
    out = []
    ids = sorted({str(row["sample_id"]) for row in r.samples})
    if len(ids) != r.dataset.n_scored:
        out.append(Issue(path, "samples", f"rows of {len(ids)} samples but dataset.n_scored = {r.dataset.n_scored}"))
    if r.dataset.n_scored > r.dataset.n_samples or r.dataset.n_samples > r.dataset.n_samples_available:
        out.append(Issue(path, "dataset", "needs n_scored <= n_samples <= n_samples_available"))
    if r.dataset.n_scored == r.dataset.n_samples and sample_ids_sha256(ids) != r.dataset.sample_ids_sha256:
        out.append(Issue(path, "dataset.sample_ids_sha256",
                         "is not the sha256 of the sorted sample ids of the rows (rows or hash edited)"))
    return out


def check_text(path: Path, r: TaskResult) -> list[Issue]:
    """No dataset text (MS-CXR phrases, reports, NLI sentences are credentialed): rows hold ids, declared
    categories and numbers only; a --keep-text file is local, never shareable."""
    out = []
    if r.contains_dataset_text:
        out.append(Issue(path, "contains_dataset_text", "true: this file holds dataset text (a --keep-text run); "
                                                        "results for sharing hold ids and hashes only"))
    spec = TASKS.get(r.task.name)
    fields = free_text_fields(spec, r.samples) if spec is not None else []
    if fields:
        out.append(Issue(path, "samples", f"free-text field(s) {', '.join(fields)}: rows may hold ids, declared "
                                          "categories and numbers only (dataset text must not be published)"))
    truncated = r.scoring.get("truncated_texts")
    if isinstance(truncated, list) and any(isinstance(t, dict) and "text" in t for t in truncated):
        out.append(Issue(path, "scoring.truncated_texts", "holds the truncated texts themselves"))
    return out


def _check_metric(path: Path, name: str, got: Metric, want: Metric, check_note: bool = True) -> list[Issue]:
    where = f"metrics.{name}"
    out = []
    if not _same(got.value, want.value):
        out.append(Issue(path, f"{where}.value", f"{got.value!r} but the rows give {want.value!r}"))
    if got.n != want.n:
        out.append(Issue(path, f"{where}.n", f"{got.n} but the rows give {want.n}"))
    if check_note and got.note != want.note:
        out.append(Issue(path, f"{where}.note", f"{got.note!r} but the task writes {want.note!r}"))
    if (got.ci is None) != (want.ci is None):
        out.append(Issue(path, f"{where}.ci", f"{'present' if got.ci else 'missing'}, unlike the task's record"))
    elif got.ci is not None and want.ci is not None:
        for side in ("low", "high"):
            if not _same(getattr(got.ci, side), getattr(want.ci, side)):
                out.append(Issue(path, f"{where}.ci.{side}", f"{getattr(got.ci, side)!r} but the seeded bootstrap of "
                                                             f"the rows gives {getattr(want.ci, side)!r}"))
        for attr in ("level", "method"):
            if getattr(got.ci, attr) != getattr(want.ci, attr):
                out.append(Issue(path, f"{where}.ci.{attr}", f"{getattr(got.ci, attr)!r}, the task uses "
                                                             f"{getattr(want.ci, attr)!r}"))
    return out


def check_metrics(path: Path, r: TaskResult, with_ci: bool = True) -> list[Issue]:
    """Every metric (and the per-category table) recomputed from the rows with the task's own statistics."""
    try:
        stats = row_statistics(r)
        categories = per_category_rows(r)
    except RowError as exc:
        return [Issue(path, "samples", str(exc))]
    out = [Issue(path, f"metrics.{m}", "reported, but the task does not compute it")
           for m in r.metrics if m not in stats]
    out += [Issue(path, f"metrics.{m}", "missing (the task reports it)") for m in stats if m not in r.metrics]
    for name, stat in stats.items():
        got = r.metrics.get(name)
        if got is None:
            continue
        n_boot, seed = (got.ci.n_resamples, got.ci.seed) if (got.ci and with_ci) else (0, r.provenance.seed)
        if n_boot > MAX_CHECKED_RESAMPLES:
            out.append(Issue(path, f"metrics.{name}.ci.n_resamples", f"{n_boot} is more than the "
                                                                    f"{MAX_CHECKED_RESAMPLES} this check recomputes"))
            continue
        want = stat.metric(n_boot, seed)
        out += _check_metric(path, name, got if with_ci else got.model_copy(update={"ci": None}), want,
                             stat.check_note)
    if categories is not None:
        if [c.category for c in categories] != [c.category for c in r.per_category]:
            out.append(Issue(path, "per_category", "categories differ from those of the rows"))
        else:
            for i, (got_row, want_row) in enumerate(zip(r.per_category, categories)):
                bad = [k for k in want_row.metrics if not _same(got_row.metrics.get(k), want_row.metrics[k])]
                if got_row.n != want_row.n or bad or set(got_row.metrics) != set(want_row.metrics):
                    out.append(Issue(path, f"per_category.{i}", f"{got_row.category}: differs from the rows "
                                                                f"({', '.join(bad) or 'n or columns'})"))
    return out


def _scoring_value(r: TaskResult, key: str) -> Any:
    return r.scoring.get(key)


def check_board(path: Path, r: TaskResult) -> tuple[list[Issue], Track | None]:
    """The leaderboard's setting of the task (complete run, default choices) and its canonical sample set."""
    setting = setting_of(r)
    if setting is None:
        return [Issue(path, "task.name", f"{r.task.name} under protocol {r.protocol.name!r} is not ranked on the "
                                         "leaderboard")], None
    d = r.dataset
    out = []
    spec = TASKS[r.task.name]
    if r.task.version != spec.version:
        out.append(Issue(path, "task.version", f"{r.task.version}: the leaderboard ranks {r.task.name} {spec.version} "
                                               "(this version still validates and compares)"))
    track = next((t for t, s in setting.canonical.items() if s.sha256 == d.sample_ids_sha256 and s.n == d.n_samples),
                 None)
    real = setting.canonical["real"]
    if track is None and real.sha256 is None and d.n_samples == real.n:
        track = "real"  # only the size of this real sample set is known here
    split, scheme = setting.split_of(track or "real")
    for field, got, want in (("dataset.version", d.version, setting.dataset_version), ("dataset.split", d.split, split),
                             ("dataset.split_scheme", d.split_scheme, scheme)):
        if got != want:
            out.append(Issue(path, field, f"{got!r}; the leaderboard ranks {r.task.name} on {want!r}"))
    if d.limit is not None or d.n_samples != d.n_samples_available:
        out.append(Issue(path, "dataset.limit", "a --limit run is a smoke test, not a leaderboard entry"))
    if d.n_scored != d.n_samples:
        out.append(Issue(path, "dataset.n_scored", f"{d.n_samples - d.n_scored} samples were skipped; "
                                                   "leaderboard entries score every sample"))
    for key, want in setting.scoring.items():
        if _scoring_value(r, key) != want:
            out.append(Issue(path, f"scoring.{key}", f"{_scoring_value(r, key)!r}; the leaderboard uses {want!r}"))
    if track is None:
        want = ", ".join(f"{t}: n={s.n}" + (f" sha256 {s.sha256[:12]}…" if s.sha256 else "")
                         for t, s in setting.canonical.items())
        out.append(Issue(path, "dataset.sample_ids_sha256", f"n={d.n_samples}, {d.sample_ids_sha256[:12]}… is not a "
                                                            f"canonical {r.task.name} sample set ({want})"))
    elif track == "real" and setting.ordered_split_sha256 is not None:
        split = r.scoring.get("split")
        if not isinstance(split, dict) or split.get("ids_sha256") != setting.ordered_split_sha256:
            out.append(Issue(path, "scoring.split.ids_sha256", "is not the published split's checksum"))
    return out, track
