"""Byte-deterministic file writing: CSV (LF, optional gzip with mtime 0 and no file name), JPEG
(no timestamps in JFIF), JSON with sorted keys."""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd
from PIL import Image
from tqdm import tqdm

T = TypeVar("T")
R = TypeVar("R")


def write_csv(df: pd.DataFrame, path: Path) -> None:
    """CSV as pandas writes it (LF line ends, no index); `.gz` paths are gzipped reproducibly."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = df.to_csv(index=False, lineterminator="\n").encode()
    if path.suffix == ".gz":
        text = gzip.compress(text, compresslevel=9, mtime=0)
    path.write_bytes(text)


def jpeg_bytes(pixels: np.ndarray, quality: int) -> bytes:
    """8-bit grayscale baseline JPEG (JFIF, no EXIF, no timestamps)."""
    buf = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def write_bytes(data: bytes, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def write_json(obj, path: Path, indent: int | None = 1) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=indent, sort_keys=True) + "\n")


def write_jsonl(records: list[dict], path: Path) -> None:
    """JSON Lines, keys in the order given (as the official releases), one object per line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def parallel_map(fn: Callable[[T], R], items: list[T], workers: int, desc: str) -> Iterator[R]:
    """`map(fn, items)` in order, in `workers` processes when > 1, with a progress bar.
    Results do not depend on `workers` (each item carries its own seeds)."""
    bar = tqdm(total=len(items), desc=desc, unit="img", leave=False)
    try:
        if workers <= 1 or len(items) < 8:
            for item in items:
                yield fn(item)
                bar.update()
            return
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for result in pool.map(fn, items, chunksize=max(1, min(32, len(items) // (4 * workers)))):
                yield result
                bar.update()
    finally:
        bar.close()
