"""Reading the CSV tables of the datasets with clear errors (whole tables with pandas; row by row with true
file lines and field counts where a bad row is a counted skip), and finding a dataset's folder under a data
root (the toolkit's own layout or the folder names that PhysioNet/Kaggle downloads really have)."""

from __future__ import annotations

import csv
import gzip
import io
import math
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pandas as pd

from msxr_bench.data.types import DatasetFormatError


def read_table(path: Path, required: Sequence[str], what: str = "table") -> pd.DataFrame:
    """Every cell as a string ('' when empty), compressed files (.gz, .zip with one member) included.
    Raises DatasetFormatError naming the file when it is missing, unreadable or lacks a required column."""
    path = Path(path)
    if not path.is_file():
        raise DatasetFormatError(f"{what} not found: {path}")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError, EOFError) as exc:
        raise DatasetFormatError(f"{path}: cannot read {what} as CSV: {exc}") from exc
    table.columns = [str(c).strip() for c in table.columns]
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise DatasetFormatError(
            f"{path}: {what} lacks column(s) {', '.join(repr(c) for c in missing)} "
            f"(columns found: {', '.join(table.columns)})"
        )
    return table


def parse_number(value: object) -> float | None:
    """A finite float from a cell ('264.0', 12, ' 3 '), or None when empty, non-numeric or not finite."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(str(value).strip()) if not isinstance(value, (int, float)) else float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def first_existing(candidates: Iterable[Path]) -> Path | None:
    for candidate in candidates:
        if candidate.exists():
            return candidate
    return None


def dataset_dirs(data_root: Path, folder: str, download_prefixes: Sequence[str] = ()) -> list[Path]:
    """Folders where a dataset's files may sit: DATA_ROOT/<folder>, DATA_ROOT itself, and download folders
    whose name starts with one of `download_prefixes` (e.g. PhysioNet's
    'ms-cxr-making-the-most-of-...-1.1.0'), directly under either; newest version names first."""
    data_root = Path(data_root)
    bases = [data_root / folder, data_root]
    dirs: list[Path] = []
    for base in bases:
        if not base.is_dir():
            continue
        dirs.append(base)
        if download_prefixes:
            found = [p for p in base.iterdir() if p.is_dir() and p.name.startswith(tuple(download_prefixes))]
            dirs.extend(sorted(found, key=lambda p: p.name, reverse=True))
    return list(dict.fromkeys(dirs))


def files_parent(root: Path, folder: str) -> Path:
    """The folder holding a PhysioNet `files/` tree: `root` itself, its parent when `root` is `files/`, or
    DATA_ROOT/<folder>[/<version>] as PhysioNet unpacks it; `root` unchanged when none has `files/`."""
    root = Path(root)
    if root.name == "files":
        return root.parent
    candidates = [root, root / folder]
    for parent in (root, root / folder):
        candidates += [parent / "2.1.0", parent / "2.0.0"]
    for candidate in candidates:
        if (candidate / "files").is_dir():
            return candidate
    return root


@dataclass(frozen=True)
class CsvRow:
    """One data row of a CSV file as found: `line` is the file line it starts on (the header is line 1),
    `values` maps every header column to its cell ('' when the row is short), `n_fields` counts its cells."""

    line: int
    values: dict[str, str]
    n_fields: int


def read_csv_rows(path: Path, required: Sequence[str], what: str = "table") -> tuple[list[str], list[CsvRow]]:
    """The header and the rows of a CSV file (plain, .gz, or .zip with one member), with true line numbers
    and field counts: a short or long row is kept for the caller to judge (`row_shape_problem`), never
    silently padded or shifted (pandas pads a short row, and a long first row becomes its index)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetFormatError(f"{what} not found: {path}")
    try:
        with _open_text(path) as f:
            reader = csv.reader(f)
            header = [c.strip() for c in next(reader, [])]
            if not header:
                raise DatasetFormatError(f"{path}: {what} is empty (no header line)")
            missing = [c for c in required if c not in header]
            if missing:
                raise DatasetFormatError(f"{path}: {what} lacks column(s) {', '.join(repr(c) for c in missing)} "
                                         f"(columns found: {', '.join(header)})")
            rows, line = [], reader.line_num
            for fields in reader:
                start, line = line + 1, reader.line_num
                if fields:  # a blank line is no row
                    cells = dict(zip(header, fields + [""] * (len(header) - len(fields))))
                    rows.append(CsvRow(start, cells, len(fields)))
    except (csv.Error, OSError, UnicodeDecodeError, EOFError, zipfile.BadZipFile) as exc:
        raise DatasetFormatError(f"{path}: cannot read {what} as CSV: {exc}") from exc
    return header, rows


def row_shape_problem(row: CsvRow, n_columns: int) -> tuple[str, str] | None:
    """(reason, where) when the row has fewer or more fields than the header, else None."""
    if row.n_fields == n_columns:
        return None
    reason = "row has too few fields" if row.n_fields < n_columns else "row has too many fields"
    return reason, f"line {row.line} ({row.n_fields} fields, header has {n_columns})"


def _open_text(path: Path) -> IO[str]:
    suffix = path.suffix.lower()
    if suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8-sig", newline="")
    if suffix == ".zip":
        archive = zipfile.ZipFile(path)
        members = [m for m in archive.namelist() if not m.endswith("/")]
        if len(members) != 1:
            archive.close()
            raise DatasetFormatError(f"{path}: a zipped table must hold exactly one file, found {len(members)}")
        return io.TextIOWrapper(archive.open(members[0]), encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")
