"""Every hash the toolkit records: of files (weights, annotation files, images), of id lists (which samples a
number was computed on, which split was used) and of dataset texts (a keyed hash, never the text).

No other module hashes: one definition of each, so that two records of the same thing always agree.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Iterable

__all__ = ["file_sha256", "file_md5", "ordered_ids_sha256", "sample_ids_sha256", "text_sha256"]


@lru_cache(maxsize=256)
def _file_digest(path: str, size: int, mtime_ns: int, algorithm: str) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, algorithm).hexdigest()


def _digest(path: str | Path, algorithm: str) -> str:
    path = Path(path)
    st = path.stat()
    return _file_digest(str(path.resolve()), st.st_size, st.st_mtime_ns, algorithm)


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes (remembered per path, size and mtime: weights are hashed once per process)."""
    return _digest(path, "sha256")


def file_md5(path: str | Path) -> str:
    """md5 of a file's bytes (only where an upstream publishes md5 checksums)."""
    return _digest(path, "md5")


def ordered_ids_sha256(ids: Iterable[str]) -> str:
    """sha256 of the ids joined by newlines, in the order given (a split file's checksum: order matters)."""
    return hashlib.sha256("\n".join(ids).encode("utf-8")).hexdigest()


def sample_ids_sha256(ids: Iterable[str]) -> str:
    """sha256 of the sorted ids joined by newlines: which samples a number was computed on."""
    return ordered_ids_sha256(sorted(ids))


def text_sha256(text: str) -> str:
    """sha256 of a text (cache keys only: a plain hash of a short phrase can be reversed by guessing)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()

