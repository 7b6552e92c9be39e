"""Reading the CSV tables of the datasets with clear errors, and finding a dataset's folder under a data
root (the toolkit's own layout or the folder names that PhysioNet/Kaggle downloads really have)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path

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


def records(table: pd.DataFrame, columns: Sequence[str]) -> list[dict[str, str]]:
    """Rows as plain dicts of the given columns (much faster than `DataFrame.to_dict` on string columns)."""
    values = [table[c].tolist() for c in columns]
    return [dict(zip(columns, row)) for row in zip(*values)]


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
