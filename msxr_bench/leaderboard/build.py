"""`leaderboard build`: validate every submission, then write the Markdown tables (a whole page, or the block
between markers of leaderboard/README.md) and the static HTML page. Nothing is built from an invalid file.
"""

from __future__ import annotations

from pathlib import Path

from msxr_bench.leaderboard.render_html import write_html
from msxr_bench.leaderboard.render_md import write_markdown
from msxr_bench.leaderboard.tables import Table, measured_tables, reported_tables
from msxr_bench.leaderboard.validate import Report, validate_paths


class BuildError(ValueError):
    """The submissions do not validate; `report` holds every issue."""

    def __init__(self, report: Report):
        self.report = report
        super().__init__(f"{len(report.issues)} validation issue(s); nothing was written")


def leaderboard_tables(submissions: Path) -> tuple[list[Table], Report]:
    """Measured tables (validated entries only) followed by the papers' reported numbers."""
    report = validate_paths([submissions]) if Path(submissions).exists() else Report()
    if not report.ok:
        raise BuildError(report)
    entries = sorted(report.entries, key=lambda e: (e.card.model if e.card else "", str(e.path)))
    return measured_tables(entries) + reported_tables(), report


def build(submissions: Path, markdown: Path | None, html: Path | None) -> Report:
    tables, report = leaderboard_tables(submissions)
    if markdown is not None:
        write_markdown(tables, markdown)
    if html is not None:
        write_html(tables, html)
    return report
