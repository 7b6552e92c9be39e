"""Plain-text tables of a task result for the terminal (the JSON is the record; this is for reading).
`TaskResult.__str__` is `format_result`."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from msxr_bench.results import TaskResult


def _fmt(value: float | None, width: int = 9) -> str:
    if value is None or value != value:
        return f"{'—':>{width}}"
    return f"{value:>{width}.3f}"


def format_result(result: TaskResult) -> str:
    """Per-category table (when the task has categories), then every metric with its 95% CI."""
    protocol = f" protocol {result.protocol.name}" if result.protocol else ""
    lines = [f"{result.task.name} v{result.task.version} | {result.adapter.name} | {result.dataset.name} "
             f"{result.dataset.version or ''}{protocol} split={result.dataset.split} | n={result.dataset.n_scored}"]
    if result.per_category:
        names = list(result.per_category[0].metrics)
        lines.append(f"{'category':<18}{'n':>5}" + "".join(f"{n:>18}" for n in names))
        for row in result.per_category:
            lines.append(f"{row.category:<18}{row.n:>5}" + "".join(f"{_fmt(row.metrics[n], 18)}" for n in names))
        for agg in ("macro", "micro"):
            if not any(f"{n}_{agg}" in result.metrics for n in names):
                continue  # e.g. RadNLI's per-class table has macro means only
            cells = "".join(_fmt(result.metrics[f"{n}_{agg}"].value, 18) if f"{n}_{agg}" in result.metrics
                            else f"{'':>18}" for n in names)
            lines.append(f"{agg:<18}{result.dataset.n_scored:>5}" + cells)
        lines.append("")
    width = max(len(k) for k in result.metrics)
    for name, m in result.metrics.items():
        ci = f"  [{_fmt(m.ci.low, 0).strip()}, {_fmt(m.ci.high, 0).strip()}]" if m.ci else ""
        star = " *" if name == result.main_score.name else ""
        note = f"  ({m.note})" if m.note else ""
        lines.append(f"  {name:<{width}} {_fmt(m.value)}{ci}  n={m.n}{star}{note}")
    lines.extend(skip_summary(result))
    lines.extend(f"  note: {n}" for n in result.notes)
    lines.extend(_confusion_lines(result.scoring.get("confusion_matrix")))
    return "\n".join(lines)


def skip_summary(result: TaskResult, first: int = 3) -> list[str]:
    """What was skipped: per source and reason, the count and the first ids (the JSON lists them all)."""
    if not result.skipped_total:
        return []
    out = [f"  skipped {result.skipped_total} (see 'skipped' in the results file):"]
    for record in result.skipped:
        for reason, n in record.counts.items():
            examples = [e.split(" ", 1)[0] for e in record.examples.get(reason, [])[:first]]
            more = ", ..." if n > len(examples) else ""
            out.append(f"    {record.source}: {reason}: {n}" + (f" (first: {', '.join(examples)}{more})" if examples
                                                                 else ""))
    return out


def _confusion_lines(cm: object) -> list[str]:
    """The confusion matrix summed over seeds (RadNLI), rows gold, columns predicted."""
    if not isinstance(cm, dict) or "sum_over_seeds" not in cm or "labels" not in cm:
        return []
    labels = cm["labels"]
    out = [f"  confusion matrix ({cm.get('rows', 'gold')} rows x {cm.get('columns', 'predicted')} columns, "
           f"summed over seeds):", "    " + f"{'':<15}" + "".join(f"{name:>15}" for name in labels)]
    out += ["    " + f"{name:<15}" + "".join(f"{v:>15}" for v in row) for name, row in zip(labels, cm["sum_over_seeds"])]
    return out
