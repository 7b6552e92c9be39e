"""The reproduction report: DIR/report.md, DIR/report.html and DIR/report.png — for each published cell the paper's
value (± its spread), the measured value with its 95% CI, the difference and the verdict (rule stated), then the
rows that cannot be reproduced, with their reasons. Ids and numbers only: no dataset text."""

from __future__ import annotations

import html
from collections import Counter
from pathlib import Path

from msxr_bench.published.values import category_name, printed_average_checks
from msxr_bench.reproduce.recipe import Recipe
from msxr_bench.reproduce.verdict import RULE, Comparison

COLUMNS = ["Method", "Setting", "Metric", "Category", "Paper", "Measured [95% CI]", "Difference", "Verdict"]
COLOURS = {"agrees": "tab:green", "differs": "tab:red", "protocol differs": "tab:orange"}


def _cells(c: Comparison, flagged: set) -> list[str]:
    v = c.value
    paper = v.printed + (f" ± {v.spread_printed}" if v.spread_printed else "")
    if (v.table, v.row_label, v.setting, v.metric) in flagged and v.category == "macro_avg":
        paper += " ‡"
    measured = "—" if c.measured is None else f"{c.measured:.4g}" + (
        f" [{c.ci[0]:.4g}, {c.ci[1]:.4g}]" if c.ci else "")
    diff = "—" if c.diff is None else f"{c.diff:+.4g}"
    verdict = c.verdict + (f": {c.reason}" if c.reason else "")
    category = "" if not v.category else ("Avg." if v.category == "macro_avg" else category_name(v.category))
    model = f" ({c.model})" if c.model else ""
    return [v.row_label + model, v.setting, v.metric, category, paper, measured, diff, verdict]


def _sections(recipe: Recipe, comparisons: list[Comparison]) -> list[tuple[str, list[Comparison]]]:
    tables = list(dict.fromkeys(v.table for v in recipe.values()))
    return [(t, [c for c in comparisons if c.value.table == t]) for t in tables]


def summary(comparisons: list[Comparison]) -> Counter:
    return Counter(c.verdict for c in comparisons)


def write_markdown(recipe: Recipe, comparisons: list[Comparison], path: Path, header: list[str]) -> Path:
    flagged = {(a.table, a.row, a.printed.setting, a.metric) for a in printed_average_checks(recipe.values())}
    counts = summary(comparisons)
    lines = [f"# Reproduction of {recipe.title}", "", *header, "",
             "Verdicts: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())), "", f"Rule: {RULE}.", "",
             "‡ the paper's printed average is not the mean of its printed categories: judged apart from them.", ""]
    for table, rows in _sections(recipe, comparisons):
        if not rows:
            continue
        lines += [f"## {table}", "", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        lines += ["| " + " | ".join(x.replace("|", "\\|") for x in _cells(c, flagged)) + " |" for c in rows]
        lines.append("")
    lines += ["## Published rows not mapped to a run", ""]
    lines += [f"- {u.rows.table} ({u.rows.setting or u.rows.setting_prefix or 'all settings'}): {u.reason}"
              for u in recipe.unmapped] or ["- none"]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_html(recipe: Recipe, comparisons: list[Comparison], path: Path, header: list[str]) -> Path:
    flagged = {(a.table, a.row, a.printed.setting, a.metric) for a in printed_average_checks(recipe.values())}
    e = html.escape
    parts = [f"<!doctype html><meta charset='utf-8'><title>{e(recipe.title)}</title><style>"
             "body{font:14px system-ui,sans-serif;margin:2em;max-width:1400px}table{border-collapse:collapse;"
             "margin-bottom:2em}td,th{border:1px solid #ccc;padding:3px 6px;text-align:left}th{background:#f3f3f3}"
             ".agrees{background:#e6f4e6}.differs{background:#fbe4e4}.protocol{background:#fdf0dc}"
             ".notrun{color:#777}</style>", f"<h1>Reproduction of {e(recipe.title)}</h1>"]
    parts += [f"<p>{e(h)}</p>" for h in header]
    counts = summary(comparisons)
    parts.append("<p><b>Verdicts:</b> " + e(", ".join(f"{n} {k}" for k, n in sorted(counts.items()))) + "</p>")
    parts.append(f"<p><b>Rule:</b> {e(RULE)}.</p><p><img src='report.png' alt='paper vs measured' width='640'></p>")
    for table, rows in _sections(recipe, comparisons):
        if rows:
            parts.append(f"<h2>{e(table)}</h2><table><tr>" + "".join(f"<th>{e(c)}</th>" for c in COLUMNS) + "</tr>")
            for c in rows:
                cls = {"agrees": "agrees", "differs": "differs", "protocol differs": "protocol"}.get(c.verdict, "notrun")
                parts.append(f"<tr class='{cls}'>" + "".join(f"<td>{e(x)}</td>" for x in _cells(c, flagged)) + "</tr>")
            parts.append("</table>")
    parts.append("<h2>Published rows not mapped to a run</h2><ul>" + "".join(
        f"<li>{e(u.rows.table)}: {e(u.reason)}</li>" for u in recipe.unmapped) + "</ul>")
    path.write_text("\n".join(parts) + "\n")
    return path


def write_figure(comparisons: list[Comparison], path: Path, title: str) -> Path:
    """One panel per published metric: measured vs paper for every measured cell, 95% CIs as bars, coloured by
    verdict, y = x dashed (metrics live on different scales, so they never share axes)."""
    import math

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [c for c in comparisons if c.measured is not None]
    metrics = list(dict.fromkeys(c.value.metric for c in done)) or ["(nothing measured)"]
    cols = min(3, len(metrics))
    rows = math.ceil(len(metrics) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.0 * cols, 3.6 * rows + 0.6), dpi=110, squeeze=False)
    for ax, metric in zip(axes.flat, metrics):
        mine = [c for c in done if c.value.metric == metric]
        for verdict, colour in COLOURS.items():
            group = [c for c in mine if c.verdict == verdict]
            if group:
                err = [[c.measured - c.ci[0] if c.ci else 0 for c in group],
                       [c.ci[1] - c.measured if c.ci else 0 for c in group]]
                ax.errorbar([c.value.number for c in group], [c.measured for c in group], yerr=err, fmt="o",
                            color=colour, ms=4, elinewidth=0.8, capsize=2, label=verdict)
        if mine:
            lo = min(min(c.value.number, c.measured) for c in mine)
            hi = max(max(c.value.number, c.measured) for c in mine)
            pad = 0.05 * (hi - lo or 1.0)
            ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], "k--", linewidth=0.8)
        ax.set_title(metric, fontsize=9)
        ax.set_xlabel("paper", fontsize=8)
        ax.set_ylabel("measured (95% CI)", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(metrics):]:
        ax.set_visible(False)
    handles = {h.get_label(): h for ax in axes.flat for h in ax.get_legend_handles_labels()[0]}
    if handles:
        fig.legend(handles.values(), handles.keys(), loc="lower center", ncol=len(handles), fontsize=8)
    fig.suptitle(f"{title}: measured vs paper (dashed: equal)", fontsize=10)
    fig.tight_layout(rect=(0, 0.05, 1, 0.96))
    fig.savefig(path)
    plt.close(fig)
    return path
