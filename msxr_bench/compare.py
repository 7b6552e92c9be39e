"""Release regression check: two runs of the same task on the same samples, compared sample by sample.

Rows are paired by sample_id; each metric is recomputed from the rows with the task's own statistic
(`Task.metrics` via `tasks.recompute`: CNR macro over categories, AUROC, ...) and the candidate-minus-baseline difference gets
a seeded paired bootstrap (`metrics.bootstrap.paired_bootstrap`, category-stratified where the task stratifies).
A metric is a regression when the candidate is significantly worse (one-sided p < alpha) by more than min_effect.
Inputs that cannot be paired (other task, version, split, sample set) are refused, never compared.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

from msxr_bench.leaderboard.checks import check_metrics, check_rows, check_task, load_result
from msxr_bench.metrics.bootstrap import paired_bootstrap
from msxr_bench.results import TaskResult
from msxr_bench.run_manifest import check_run_folder
from msxr_bench.tasks.recompute import RowError, has_direction, row_statistics

# row fields that must agree sample by sample (the task groups or labels by them)
GROUP_FIELDS = {"ms-cxr": "category", "rsna-cls": "label", "radnli-zs": "label", "radnli": "label",
                "ms-cxr-t-cls": "label", "ms-cxr-t-sim": "label"}
Side = dict[str, tuple[Path, TaskResult]]


class CompareInputError(ValueError):
    """The inputs cannot be compared (invalid file, or runs that differ in task, version, split or samples)."""


@dataclass
class MetricComparison:
    task: str
    metric: str
    baseline: float
    candidate: float
    diff: float  # candidate - baseline
    low: float  # (1 - alpha) paired bootstrap CI of diff
    high: float
    p_worse: float  # one-sided: small when the candidate is worse
    verdict: str  # "worse" | "better" | "no significant change" | "no direction" | "undefined"

    def to_dict(self) -> dict:
        """JSON-ready (NaN -> None)."""
        return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in asdict(self).items()}


def _load_file(path: Path) -> TaskResult:
    result, issues = load_result(path)
    if result is None:
        raise CompareInputError(f"{path} is not a valid results file:\n  " + "\n  ".join(map(str, issues)))
    problems = check_task(path, result) or (check_rows(path, result) + check_metrics(path, result, with_ci=False))
    if problems:
        raise CompareInputError(f"{path} does not hold together:\n  " + "\n  ".join(map(str, problems)))
    return result


def load_side(path: Path) -> Side:
    """A results file, or every results JSON of a folder (`OUTPUT/<model>/`), by task name."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.glob("*.json") if p.name not in ("model.json", "run.json"))
        if not files:
            raise CompareInputError(f"{path}: no results JSON in this folder")
    elif path.is_file():
        files = [path]
    else:
        raise CompareInputError(f"{path}: no such file or folder")
    if path.is_dir():
        try:
            problems = check_run_folder(path, files)
        except ValueError as exc:
            problems = [str(exc)]
        if problems:
            raise CompareInputError(f"{path} does not hold the results of one complete run:\n  " + "\n  ".join(problems))
    side: Side = {}
    for f in files:
        result = _load_file(f)
        if result.task.name in side:
            raise CompareInputError(f"{path}: two results of {result.task.name} ({side[result.task.name][0].name}, "
                                    f"{f.name})")
        side[result.task.name] = (f, result)
    return side


def _key(row: dict, fields: list[str]) -> tuple:
    return tuple(row.get(k) for k in fields)


def paired_rows(baseline: TaskResult, candidate: TaskResult, names: tuple[str, str]) -> list[dict]:
    """Candidate rows in baseline order (paired by the row key), after checking that the two runs can be paired."""
    b_name, c_name = names
    b, c = baseline, candidate
    checks = [("task", b.task.name, c.task.name), ("task version", b.task.version, c.task.version),
              ("dataset", b.dataset.name, c.dataset.name), ("dataset version", b.dataset.version, c.dataset.version),
              ("split", b.dataset.split, c.dataset.split), ("split scheme", b.dataset.split_scheme,
                                                            c.dataset.split_scheme), ("row key", b.row_key, c.row_key)]
    for what, x, y in checks:
        if x != y:
            raise CompareInputError(f"cannot compare {b_name} with {c_name}: {what} differs ({x!r} vs {y!r})")
    fields = list(b.row_key)
    by_key = {_key(r, fields): r for r in c.samples}
    b_keys = [_key(r, fields) for r in b.samples]
    missing, extra = set(b_keys) - set(by_key), set(by_key) - set(b_keys)
    if missing or extra:
        def show(keys: set) -> str:
            ids = sorted("/".join(map(str, k)) for k in keys)
            return ", ".join(ids[:10]) + (f" and {len(ids) - 10} more" if len(ids) > 10 else "")
        raise CompareInputError(
            f"cannot compare {b_name} with {c_name}: scored samples differ ({len(missing)} only in the baseline"
            + (f": {show(missing)}" if missing else "") + f"; {len(extra)} only in the candidate"
            + (f": {show(extra)}" if extra else "") + ")")
    if b.dataset.sample_ids_sha256 != c.dataset.sample_ids_sha256:
        raise CompareInputError(f"cannot compare {b_name} with {c_name}: sample set (sample_ids_sha256) differs "
                                "although the scored rows agree (different skips)")
    rows = [by_key[k] for k in b_keys]
    field = GROUP_FIELDS.get(b.task.name)
    if field is not None:
        for rb, rc in zip(b.samples, rows):
            if rb.get(field) != rc.get(field):
                raise CompareInputError(f"cannot compare: sample {rb['sample_id']!r} has {field} {rb.get(field)!r} "
                                        f"in {b_name} but {rc.get(field)!r} in {c_name}")
    return rows


def _verdict(task: str, metric: str, diff: float, low: float, p_worse: float, alpha: float, min_effect: float) -> str:
    if math.isnan(diff):
        return "undefined"
    if not has_direction(task, metric):
        return "no direction"
    if p_worse < alpha and diff < -min_effect:
        return "worse"
    if low > 0 and diff > min_effect:
        return "better"
    return "no significant change"


def compare_results(baseline: TaskResult, candidate: TaskResult, metrics: list[str] | None = None, *,
                    alpha: float = 0.05, min_effect: float = 0.0, n_resamples: int = 1000, seed: int = 0,
                    names: tuple[str, str] = ("baseline", "candidate")) -> list[MetricComparison]:
    """Paired bootstrap of each metric (default: the task's main score; ["all"]: every metric)."""
    rows = paired_rows(baseline, candidate, names)
    try:
        stats_b = row_statistics(baseline)
        stats_c = row_statistics(candidate.model_copy(update={"samples": rows}))
    except RowError as exc:
        raise CompareInputError(f"cannot recompute the metrics: {exc}") from exc
    wanted = [baseline.main_score.name] if not metrics else (list(stats_b) if metrics == ["all"] else metrics)
    unknown = [m for m in wanted if m not in stats_b]
    if unknown:
        raise CompareInputError(f"{baseline.task.name} has no metric {', '.join(unknown)} "
                                f"(it has {', '.join(stats_b)})")
    out = []
    for m in wanted:
        sb, sc = stats_b[m], stats_c[m]
        pb = paired_bootstrap(sc.data, sb.data, sb.statistic, n_resamples=n_resamples, seed=seed, alpha=alpha,
                              strata=sb.strata)
        verdict = _verdict(baseline.task.name, m, pb.diff, pb.low, pb.p_value_worse, alpha, min_effect)
        out.append(MetricComparison(baseline.task.name, m, sb.value(), sc.value(), pb.diff, pb.low, pb.high,
                                    pb.p_value_worse, verdict))
    return out


def compare_paths(baseline: Path, candidate: Path, metrics: list[str] | None = None,
                  **kwargs) -> list[MetricComparison]:
    """Files or result folders; folders are paired by task name and must hold the same tasks. With several
    tasks, each named metric is compared in the tasks that have it (the others compare their main score)."""
    b, c = load_side(baseline), load_side(candidate)
    if set(b) != set(c):
        raise CompareInputError(f"the two sides hold different tasks: {', '.join(sorted(b))} in {baseline} vs "
                                f"{', '.join(sorted(c))} in {candidate}")
    known = {t: set(r.metrics) for t, (_, r) in b.items()}
    if metrics and metrics != ["all"]:
        nowhere = [m for m in metrics if not any(m in names for names in known.values())]
        if nowhere:
            raise CompareInputError(f"no task here has the metric {', '.join(nowhere)}")
    out = []
    for task in sorted(b):
        mine = metrics if metrics == ["all"] else [m for m in metrics or [] if m in known[task]] or None
        out += compare_results(b[task][1], c[task][1], mine, names=(str(b[task][0]), str(c[task][0])), **kwargs)
    return out


def format_comparisons(rows: list[MetricComparison], alpha: float) -> str:
    head = f"{'task':<10} {'metric':<24} {'baseline':>9} {'candidate':>9} {'diff':>9} {f'{1 - alpha:.0%} CI':>21} " \
           f"{'p(worse)':>8}  verdict"
    lines = [head, "-" * len(head)]
    for r in rows:
        ci = f"[{r.low:+.4f}, {r.high:+.4f}]"
        lines.append(f"{r.task:<10} {r.metric:<24} {r.baseline:>9.4f} {r.candidate:>9.4f} {r.diff:>+9.4f} {ci:>21} "
                     f"{r.p_worse:>8.4f}  {r.verdict.upper() if r.verdict == 'worse' else r.verdict}")
    return "\n".join(lines)
