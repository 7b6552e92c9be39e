"""One leaderboard table per MS-CXR protocol and data track: heatmap and box models side by side, each number from
its validated results file (ms-cxr for the map's CNR, ms-cxr-boxes for the box metrics), with how the boxes were
made. A protocol gets a table once it has an entry that the main table does not show. PadChest-GR (generalised
grounding: phrases with and without boxes) gets its own table with groundability precision and recall.
"""

from __future__ import annotations

from msxr_bench.leaderboard.board import BOARD, setting_key
from msxr_bench.leaderboard.tables import Cell, Table, _model_cell, fmt
from msxr_bench.leaderboard.validate import Entry
from msxr_bench.tasks.catalog import TASKS

TASKS_OF_PROTOCOL = ("ms-cxr", "ms-cxr-boxes")
BOX_COLUMNS = (("acc@0.5_micro", "Acc@0.5"), ("best_box_iou_micro", "Best-box IoU"), ("union_iou_micro", "Union IoU"),
               ("pooled_miou", "Pooled mIoU (ChEX)"), ("map", "mAP (ChEX)"), ("groundability_recall", "Boxes given"))


def _protocols() -> list[str]:
    ranked = {BOARD[k].protocol for k in BOARD if BOARD[k].task in TASKS_OF_PROTOCOL}
    default = TASKS["ms-cxr"].default_protocol.name
    return [p.name for p in TASKS["ms-cxr"].protocols if (None if p.name == default else p.name) in ranked]


def _metric_cell(entry: Entry | None, name: str) -> Cell:
    metric = entry.result.metrics.get(name) if entry else None
    if metric is None or metric.value is None:
        return Cell("—" if metric is None or metric.note is None else "n/a", None, metric.note if metric else None)
    detail = f"[{fmt(metric.ci.low)}, {fmt(metric.ci.high)}]" if metric.ci else None
    return Cell(fmt(metric.value), metric.value, detail)


def _cnr_cell(maps: Entry | None, boxes: Entry | None) -> Cell:
    for entry in (maps, boxes):
        metric = entry.result.metrics.get("cnr_macro") if entry else None
        if metric is not None and metric.value is not None:
            signed = entry.result.metrics.get("signed_cnr_macro")
            return Cell(fmt(metric.value), metric.value, f"signed {fmt(signed.value if signed else None)}")
    if boxes is not None:
        return Cell("n/a", None, "box-only model: CNR is undefined for a map made of boxes")
    return Cell("—")


def _source_cell(boxes: Entry | None) -> Cell:
    if boxes is None:
        return Cell("—")
    source = boxes.result.scoring.get("box_source", {})
    text = "model's boxes" if source.get("kind") == "model" else f"heatmap ({source.get('rule', '?')})"
    return Cell(text, text)


def protocol_tables(entries: list[Entry], track: str, label: str) -> list[Table]:
    tables = []
    for protocol in _protocols():
        keys = {task: setting_key(task, protocol) for task in TASKS_OF_PROTOCOL}
        by_model: dict[tuple[str, str], dict[str, Entry]] = {}
        for e in entries:
            key = setting_key(e.result.task.name, e.result.protocol.name)
            task = next((t for t, k in keys.items() if k == key), None)
            if task is not None:
                model = (e.card.model, e.card.revision) if e.card else (e.result.adapter.identity, "")
                by_model.setdefault(model, {})[task] = e
        # a table only where an entry lies outside the main table (ms-cxr on v0.1-all alone is already there)
        if not any(not BOARD[keys[task]].main for got in by_model.values() for task in got):
            continue
        rows = []
        for (_, revision), got in by_model.items():
            maps, boxes = got.get("ms-cxr"), got.get("ms-cxr-boxes")
            rows.append([_model_cell(maps or boxes), Cell(revision or "—", revision), _cnr_cell(maps, boxes)]
                        + [_metric_cell(boxes, name) for name, _ in BOX_COLUMNS] + [_source_cell(boxes)])
        rows.sort(key=lambda row: (row[3].sort is None, -(row[3].sort or 0.0), str(row[0].sort)))
        tables.append(Table(
            key=f"protocol-{protocol}-{track}", title=f"MS-CXR protocol {protocol} — {label}",
            intro=("Heatmap and box models on one sample set: CNR of the model's map (ms-cxr), box metrics "
                   "(ms-cxr-boxes; heatmap models through the named conversion shown in the last column), 95% "
                   "bootstrap CIs. Sorted by Acc@0.5."),
            columns=["Model", "Revision", "CNR (macro)"] + [title for _, title in BOX_COLUMNS] + ["Boxes from"],
            rows=rows))
    return tables


PADCHEST_COLUMNS = BOX_COLUMNS[:-1] + (("groundability_precision", "Groundability precision"),
                                      ("groundability_recall", "Groundability recall"))


def padchest_tables(entries: list[Entry], track: str, label: str) -> list[Table]:
    """The padchest-gr track's table (none without an entry)."""
    mine = [e for e in entries if setting_key(e.result.task.name, e.result.protocol.name) == "padchest-gr"]
    if not mine:
        return []
    rows = [[_model_cell(e), Cell(e.card.revision if e.card else "—", e.card.revision if e.card else None),
             _cnr_cell(None, e)] + [_metric_cell(e, name) for name, _ in PADCHEST_COLUMNS] + [_source_cell(e)]
            for e in mine]
    rows.sort(key=lambda row: (row[3].sort is None, -(row[3].sort or 0.0), str(row[0].sort)))
    return [Table(
        key=f"padchest-gr-{track}", title=f"PadChest-GR grounding (official test) — {label}",
        intro=("Phrases with and without boxes: box metrics on the phrases that have boxes, groundability "
               "(boxes predicted or not) over all of them; heatmap models through the named conversion in the last "
               "column; 95% bootstrap CIs. Sorted by Acc@0.5."),
        columns=["Model", "Revision", "CNR (macro)"] + [title for _, title in PADCHEST_COLUMNS] + ["Boxes from"],
        rows=rows)]
