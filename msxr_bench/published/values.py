"""Published numbers as data: every result table of a paper, one value a row (`papers/*.csv`), parsed apart from
their printed extras ("78.98 (+38.15%)" -> 78.98 and "+38.15%"; "28,996" -> 28996; ".657" -> 0.657) with the
precision they were printed with (the half-unit of the last printed digit is part of any comparison).

No comparison and no rendering here: `reproduce/` compares, `leaderboard/` shows.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

PAPERS_DIR = Path(__file__).resolve().parent / "papers"
PAPER_FILES = {
    "boecking2022": "boecking2022_biovil_tables.csv",  # every result table of the BioViL paper, checked
    "bannur2023": "bannur2023_biovilt_model_card.csv",  # BioViL-T paper numbers, as its model card lists them
}
TRANSCRIBED = "the paper's text, transcribed one value a row and checked against it (msxr_bench/published/papers)"
_NUMBER = re.compile(r"^\s*([+-]?(?:\d[\d,]*)?(?:\.\d+)?)\s*(.*?)\s*$")


class PublishedFormatError(ValueError):
    """A published-values file holds a row that cannot be read (the message names file and line)."""


@dataclass(frozen=True)
class PublishedValue:
    paper_key: str
    paper: str
    table: str
    method: str
    objective: str
    text_encoder: str
    setting: str
    metric: str
    category: str  # "" (no categories), "macro_avg" (the paper's Avg.), or a finding in snake case
    printed: str  # as printed
    number: float
    extras: str  # what was printed beside the number, e.g. "(+38.15%)"
    decimals: int  # digits after the decimal point as printed
    spread: float | None  # the paper's ± (its own definition, e.g. over 4 seeds)
    spread_printed: str
    trained_on_mimic_cxr: bool | None
    source: str
    line: int  # in the CSV (1 = header)

    @property
    def half_unit(self) -> float:
        """Half a unit of the last printed digit: the rounding the printed number hides."""
        return 0.5 * 10.0 ** (-self.decimals)

    @property
    def row_label(self) -> str:
        parts = [self.method] + [p for p in (self.text_encoder, self.objective) if p and p not in self.method]
        return " / ".join(parts)


def parse_printed(text: str) -> tuple[float, str, int]:
    """(number, extras, decimals) of a printed value; ValueError when it holds no number."""
    m = _NUMBER.match(text)
    core = m.group(1).replace(",", "") if m else ""
    if not core or core in "+-.":
        raise ValueError(f"no number in {text!r}")
    decimals = len(core.split(".", 1)[1]) if "." in core else 0
    return float(core), m.group(2), decimals


def _read(key: str, path: Path) -> list[PublishedValue]:
    out = []
    with open(path, newline="", encoding="utf-8") as fh:
        for line, row in enumerate(csv.DictReader(fh), start=2):
            try:
                number, extras, decimals = parse_printed(row["value"])
                spread = parse_printed(row["spread"])[0] if row.get("spread", "").strip() else None
            except (KeyError, ValueError) as exc:
                raise PublishedFormatError(f"{path.name} line {line}: {exc}") from None
            mimic = {"yes": True, "no": False}.get(row.get("trained_on_mimic_cxr", "").strip())
            out.append(PublishedValue(
                key, row["paper"], row["table"], row["method"], row.get("objective", ""), row.get("text_encoder", ""),
                row.get("setting", ""), row["metric"], row.get("category", ""), row["value"].strip(), number, extras,
                decimals, spread, row.get("spread", "").strip(), mimic, row.get("source") or TRANSCRIBED, line))
    return out


@lru_cache(maxsize=None)
def published(paper: str | None = None) -> tuple[PublishedValue, ...]:
    """Every published value (of one paper key, e.g. "boecking2022", or of all)."""
    keys = [paper] if paper is not None else list(PAPER_FILES)
    unknown = [k for k in keys if k not in PAPER_FILES]
    if unknown:
        raise KeyError(f"no published values for {unknown[0]!r} (have {', '.join(PAPER_FILES)})")
    return tuple(v for k in keys for v in _read(k, PAPERS_DIR / PAPER_FILES[k]))


def category_name(snake: str) -> str:
    """'lung_opacity' -> 'Lung Opacity' (the MS-CXR category as the toolkit names it)."""
    return " ".join(w.capitalize() for w in snake.split("_"))


@dataclass(frozen=True)
class AverageCheck:
    """A row whose printed average is not the mean of its printed categories (beyond what rounding explains)."""

    table: str
    row: str
    metric: str
    printed: PublishedValue
    mean_of_categories: float


def printed_average_checks(values: tuple[PublishedValue, ...] | None = None) -> list[AverageCheck]:
    """Rows of per-category tables whose printed "Avg." differs from the mean of the printed categories by more than
    the rounding of both (half a unit of each's last digit); compare such rows per category and for the average
    separately."""
    values = published() if values is None else values
    groups: dict[tuple, list[PublishedValue]] = {}
    for v in values:
        if v.category:
            groups.setdefault((v.paper_key, v.table, v.row_label, v.setting, v.metric), []).append(v)
    out = []
    for (_, table, row, _, metric), vs in groups.items():
        avg = [v for v in vs if v.category == "macro_avg"]
        cats = [v for v in vs if v.category != "macro_avg"]
        if len(avg) != 1 or len(cats) < 2:
            continue
        mean = sum(v.number for v in cats) / len(cats)
        if abs(mean - avg[0].number) > avg[0].half_unit + max(v.half_unit for v in cats):
            out.append(AverageCheck(table, row, metric, avg[0], mean))
    return out
