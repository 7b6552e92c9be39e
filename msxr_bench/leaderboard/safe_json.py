"""Reading untrusted JSON (leaderboard submissions, files handed to `compare`): size checked before reading,
strict UTF-8, no NaN/Infinity (neither the tokens nor overflowing numbers like 1e999), no duplicate keys, bounded
nesting, regular files only (no symbolic links). Plain `json`: never pickle, never code.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

MAX_BYTES = 50 * 1024 * 1024
MAX_DEPTH = 32


class UnsafeJSONError(ValueError):
    """The file is not acceptable JSON; the message names the file and what is wrong."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-finite number {name} (write null for a missing value)")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text} overflows to {value}")
    return value


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _depth(obj: Any) -> int:
    deepest, stack = 0, [(obj, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (dict, list)):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return deepest


def check_file(path: Path, max_bytes: int = MAX_BYTES) -> int:
    """Size of a regular, non-link file, refused when over `max_bytes` (nothing is read)."""
    path = Path(path)
    if path.is_symlink():
        raise UnsafeJSONError(f"{path}: symbolic links are not accepted")
    if not path.is_file():
        raise UnsafeJSONError(f"{path}: not a regular file")
    size = path.stat().st_size
    if size > max_bytes:
        raise UnsafeJSONError(f"{path}: {size:,} bytes is over the limit of {max_bytes:,} bytes (not parsed)")
    return size


def read_json(path: Path, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH) -> Any:
    """The parsed JSON value of `path`, or UnsafeJSONError naming the file and the problem."""
    path = Path(path)
    check_file(path, max_bytes)
    with open(path, "rb") as fh:
        raw = fh.read(max_bytes + 1)
    if len(raw) > max_bytes:  # grew after the size check
        raise UnsafeJSONError(f"{path}: over the limit of {max_bytes:,} bytes (not parsed)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnsafeJSONError(f"{path}: not UTF-8 (byte {exc.start})") from None
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float,
                           object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        raise UnsafeJSONError(f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise UnsafeJSONError(f"{path}: nested too deeply") from None
    except ValueError as exc:  # our hooks, and int() limits on absurdly long numbers
        raise UnsafeJSONError(f"{path}: {exc}") from None
    depth = _depth(value)
    if depth > max_depth:
        raise UnsafeJSONError(f"{path}: nested {depth} levels deep (at most {max_depth})")
    return value
