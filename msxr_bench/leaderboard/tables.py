"""The leaderboard's tables as plain data (renderers in `render_md.py` / `render_html.py`): measured rows from
validated submissions, one table per data track, with main score + CI per task, per-category CNR, mean rank
across tasks and a MIMIC-CXR marker; and the papers' published numbers, in tables of their own.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from msxr_bench.data.types import MS_CXR_CATEGORIES
from msxr_bench.leaderboard.board import BOARD, MAIN, TRACK_LABELS, setting_key
from msxr_bench.leaderboard.reported import METRIC_TITLES, ReportedValue, unverified_values, verified_values
from msxr_bench.leaderboard.validate import Entry

MIMIC_MARK = "⚠"
MIMIC_LEGEND = (f"{MIMIC_MARK} trained on MIMIC-CXR: MS-CXR images are MIMIC-CXR images, so its MS-CXR numbers may "
                "be optimistic.")


@dataclass
class Cell:
    text: str
    sort: float | str | None = None  # value to sort by (None sorts last)
    detail: str | None = None  # second line (e.g. the CI)
    link: Path | None = None  # target (absolute path); renderers make it relative to their output


@dataclass
class Table:
    key: str
    title: str
    intro: str
    columns: list[str]
    rows: list[list[Cell]]
    empty: str = "No entries yet."
    notes: list[str] = field(default_factory=list)


def fmt(value: float | None, digits: int = 3) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def mean_ranks(scores: dict[str, dict[str, float | None]], tasks: list[str]) -> dict[str, tuple[float | None, int]]:
    """Per row: mean over tasks of its rank (1 = best, ties share the average rank) and how many tasks it has."""
    ranks: dict[str, list[float]] = {k: [] for k in scores}
    for task in tasks:
        have = {k: v[task] for k, v in scores.items() if v.get(task) is not None and not math.isnan(v[task])}
        for k, v in have.items():
            better = sum(1 for o in have.values() if o > v)
            ties = sum(1 for o in have.values() if o == v)
            ranks[k].append(better + (ties + 1) / 2)
    return {k: (sum(r) / len(r) if r else None, len(r)) for k, r in ranks.items()}


def _model_cell(entry: Entry) -> Cell:
    card = entry.card
    name = card.display_name if card else entry.result.adapter.name
    mark = f" {MIMIC_MARK}" if card and card.training.mimic_cxr_overlap else ""
    return Cell(name + mark, name.lower(), card.model if card else entry.result.adapter.identity, entry.path.parent)


def measured_tables(entries: list[Entry]) -> list[Table]:
    tables = []
    tasks = list(MAIN)
    for track, label in TRACK_LABELS.items():
        mine = [e for e in entries if e.track == track]
        by_model: dict[tuple[str, str], dict[str, Entry]] = {}
        for e in mine:
            key = (e.card.model, e.card.revision) if e.card else (e.result.adapter.identity, "")
            by_model.setdefault(key, {})[setting_key(e.result.task.name, e.result.protocol.name)] = e
        scores = {f"{m}@{r}": {t: got[t].result.main_score.value if t in got else None for t in tasks}
                  for (m, r), got in by_model.items()}
        ranks = mean_ranks(scores, tasks)
        rows = []
        for (m, r), got in by_model.items():
            if not any(t in got for t in tasks):
                continue  # protocol tracks only: shown in their protocol's table
            first = next(got[t] for t in tasks if t in got)
            mean, count = ranks[f"{m}@{r}"]
            row = [Cell(""), _model_cell(first), Cell(r or "—", r)]
            for t in tasks:
                e = got.get(t)
                metric = e.result.metrics[e.result.main_score.name] if e else None
                ci = metric.ci if metric else None
                detail = f"[{fmt(ci.low)}, {fmt(ci.high)}]" if ci else None
                honest = BOARD[t].honest_companion
                if e is not None and honest and honest in e.result.metrics:  # a flattering score is never alone
                    detail = f"{detail or ''} signed {fmt(e.result.metrics[honest].value)}".strip()
                row.append(Cell(fmt(metric.value) if metric else "—", metric.value if metric else None, detail))
            row.append(Cell(fmt(mean, 2) if mean is not None else "—", mean, f"{count} of {len(tasks)} tasks"))
            rows.append(row)
        rows.sort(key=lambda row: (row[-1].sort is None, row[-1].sort or 0.0, str(row[1].sort)))
        for i, row in enumerate(rows, 1):
            row[0] = Cell(str(i), i)
        tables.append(Table(
            key=f"measured-{track}", title=f"Measured — {label}",
            intro=("Main score of each task with its 95% bootstrap CI, computed by msxr-bench from validated "
                   "per-sample results. MS-CXR's main score is the paper's absolute CNR, which also rewards maps that "
                   "point away from the boxes: the signed CNR is shown under it. Mean rank: over the tasks a model "
                   "has (1 = best)."),
            columns=["#", "Model", "Revision"] + [BOARD[t].title for t in tasks] + ["Mean rank"],
            rows=rows, empty="No validated submissions on this data yet.",
        ))
        cat_rows = []
        for (m, r), got in by_model.items():
            e = got.get("ms-cxr")
            if e is None:
                continue
            per = {c.category: c.metrics.get("cnr") for c in e.result.per_category}
            macro = e.result.metrics["cnr_macro"].value
            cat_rows.append([_model_cell(e)] + [Cell(fmt(per.get(c)), per.get(c)) for c in MS_CXR_CATEGORIES]
                            + [Cell(fmt(macro), macro)])
        cat_rows.sort(key=lambda row: -(row[-1].sort or 0.0))
        if mine:
            tables.append(Table(
                key=f"categories-{track}", title=f"MS-CXR CNR per category — {label}",
                intro="Mean CNR of each category's phrases; the macro mean over categories is the main score.",
                columns=["Model"] + list(MS_CXR_CATEGORIES) + ["Macro"], rows=cat_rows,
                empty="No ms-cxr results on this data yet."))
        from msxr_bench.leaderboard.protocol_tables import protocol_tables  # it builds on this module's cells

        tables += protocol_tables(mine, track, label)
    return tables


def _reported_table(key: str, group: str, values: list[ReportedValue]) -> Table:
    metrics = list(dict.fromkeys(v.metric for v in values))
    methods = list(dict.fromkeys((v.method, v.text_encoder) for v in values))
    rows = []
    for method, encoder in methods:
        mine = {v.metric: v for v in values if (v.method, v.text_encoder) == (method, encoder)}
        some = next(iter(mine.values()))
        mark = f" {MIMIC_MARK}" if some.mimic_cxr else ""
        row = [Cell(method + mark, method.lower()), Cell(encoder or "—", (encoder or "").lower())]
        for m in metrics:
            v = mine.get(m)
            text = "—" if v is None else v.value + (f" ± {v.spread}" if v.spread else "")
            row.append(Cell(text, v.number if v else None))
        rows.append(row)
    first = values[0]
    sources = sorted({v.source for v in values})
    return Table(key=key, title=f"Reported in paper — {group}",
                 intro=f"{first.paper}, {first.table}. Not measured by msxr-bench; protocols and data versions "
                       "differ from the measured rows, so do not rank them together.",
                 columns=["Method", "Text encoder"] + [METRIC_TITLES[m] for m in metrics], rows=rows,
                 notes=[f"Source: {s}" for s in sources]
                 + [f"{MIMIC_MARK} where the source states MIMIC-CXR training; unmarked rows: not stated there."])


def reported_tables() -> list[Table]:
    values = verified_values()
    groups = list(dict.fromkeys(v.group for v in values))
    tables = [_reported_table(f"reported-{i}", g, [v for v in values if v.group == g]) for i, g in enumerate(groups)]
    held = unverified_values()
    if held and tables:
        tables[-1].notes.append(f"{len(held)} further published values are recalled but not yet checked against "
                                "their paper; they are listed in msxr_bench/leaderboard/reported.py and not shown.")
    return tables


def relative_link(target: Path, output_dir: Path) -> str:
    return Path(os.path.relpath(target.resolve(), output_dir.resolve())).as_posix()
