"""Test support for the GLoRIA tests: the upstream reference vectors and a stub WordPiece vocabulary.

`tests/data/gloria_reference.npz` is `shared/reference/gloria/gloria_reference.npz` (sha256 4e01d6a7...45d5,
README there) repacked losslessly: float64 inputs that are multiples of 2**-6 within +-127/64 are stored as
int8 (x * 64) under `<key>__x64_int8`; `load_gloria_reference` restores the exact float64 arrays.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

REFERENCE = Path(__file__).parent / "data" / "gloria_reference.npz"
_PACKED = "__x64_int8"


@lru_cache(maxsize=1)
def load_gloria_reference() -> dict[str, np.ndarray]:
    with np.load(REFERENCE) as z:
        out = {}
        for key in z.files:
            if key.endswith(_PACKED):
                out[key[: -len(_PACKED)]] = z[key].astype(np.float64) / 64.0
            else:
                out[key] = z[key]
    return out


def write_stub_vocab(directory: Path) -> Path:
    """vocab.txt of the reference's stub WordPiece vocabulary, ids preserved (gaps filled with [unusedN])."""
    ref = load_gloria_reference()
    by_id = {int(i): str(t) for t, i in zip(ref["vocab_tokens"], ref["vocab_ids"])}
    lines = [by_id.get(i, f"[unused{i}]") for i in range(max(by_id) + 1)]
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "vocab.txt"
    path.write_text("\n".join(lines) + "\n")
    return path
