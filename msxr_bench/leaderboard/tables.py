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
from msxr_bench.published.values import PublishedValue, category_name, printed_average_checks, published
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
        from msxr_bench.leaderboard.protocol_tables import padchest_tables, protocol_tables  # built on these cells

        tables += protocol_tables(mine, track, label) + padchest_tables(mine, track, label)
    return tables


METRIC_TITLES = {
    "mscxr_cnr": "CNR", "mscxr_miou": "mIoU", "mscxr_cnr_macro": "MS-CXR CNR", "mscxr_miou_macro": "MS-CXR mIoU",
    "radnli_accuracy_percent": "RadNLI acc. (%)", "mask_prediction_accuracy_percent": "Mask pred. acc. (%)",
    "avg_tokens_after_tokenization": "Tokens / Findings", "vocabulary_size": "Vocabulary",
    "radnli_syn_sim": "Syn. sim.", "radnli_cont_gap": "Cont. gap", "rsna_accuracy@f1max": "Accuracy",
    "rsna_sensitivity@f1max": "Sensitivity", "rsna_specificity@f1max": "Specificity", "rsna_f1@f1max": "F1",
    "rsna_auroc": "AUROC", "rsna_abs_delta_auroc": "|ΔAUROC|", "rsna_seg_iou": "IoU", "rsna_seg_dice": "Dice",
    "rsna_seg_cnr": "CNR",
}


def _column_title(metric: str, category: str, single_metric: bool) -> str:
    if not category:
        return METRIC_TITLES.get(metric, metric)
    name = "Avg." if category == "macro_avg" else category_name(category)
    return name if single_metric else f"{METRIC_TITLES.get(metric, metric)} {name}"


def _reported_table(key: str, values: list[PublishedValue], flagged: set[tuple]) -> Table:
    """One paper table: a row per (method, encoder, objective, setting), a column per (metric, category)."""
    columns = list(dict.fromkeys((v.metric, v.category) for v in values))
    settings = list(dict.fromkeys(v.setting for v in values))
    single_metric = len({m for m, _ in columns}) == 1
    rows = []
    for label, setting in dict.fromkeys((v.row_label, v.setting) for v in values):
        mine = {(v.metric, v.category): v for v in values if (v.row_label, v.setting) == (label, setting)}
        mark = f" {MIMIC_MARK}" if any(v.trained_on_mimic_cxr for v in mine.values()) else ""
        row = [Cell(label + mark, label.lower())] + ([Cell(setting or "—", setting)] if len(settings) > 1 else [])
        for col in columns:
            v = mine.get(col)
            text = "—" if v is None else v.printed + (f" ± {v.spread_printed}" if v.spread_printed else "")
            if v is not None and (v.table, v.row_label, v.setting, v.metric) in flagged and v.category == "macro_avg":
                text += " ‡"
            row.append(Cell(text, v.number if v else None))
        rows.append(row)
    first = values[0]
    notes = [f"Source: {s}" for s in sorted({v.source for v in values})]
    if any(v.spread_printed for v in values):
        notes.append("± as printed in the paper (its spread over seeds).")
    if any(key[0] == first.table for key in flagged):
        notes.append("‡ the printed average is not the mean of the printed categories (beyond rounding): compare "
                     "per category and the average separately.")
    notes.append(f"{MIMIC_MARK} where the paper states MIMIC-CXR training; unmarked rows: not stated there.")
    return Table(key=key, title=f"Reported in paper — {first.paper}, {first.table}",
                 intro=("Not measured by msxr-bench; protocols and data versions differ from the measured rows, so do "
                        "not rank them together." + (f" Setting: {settings[0]}." if len(settings) == 1 else "")),
                 columns=["Method"] + (["Setting"] if len(settings) > 1 else [])
                 + [_column_title(m, c, single_metric) for m, c in columns], rows=rows, notes=notes)


def reported_tables() -> list[Table]:
    """Every published table (msxr_bench/published/papers), per category where the paper gives categories."""
    values = published()
    flagged = {(c.table, c.row, c.printed.setting, c.metric) for c in printed_average_checks(values)}
    groups = list(dict.fromkeys((v.paper_key, v.table) for v in values))
    tables = [_reported_table(f"reported-{i}", [v for v in values if (v.paper_key, v.table) == g], flagged)
              for i, g in enumerate(groups)]
    if any(v.paper_key == "bannur2023" for v in values):
        tables[-1].notes.append("BioViL on MS-CXR is reported by both papers, each with its own evaluation (BioViL "
                                "paper: CNR 1.027, mIoU 0.266; BioViL-T paper: CNR 1.07 ± 0.04, mIoU 0.229 ± 0.005): "
                                "both are shown, each under its paper.")
    return tables


def relative_link(target: Path, output_dir: Path) -> str:
    return Path(os.path.relpath(target.resolve(), output_dir.resolve())).as_posix()
