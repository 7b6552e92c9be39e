"""The phrase-sensitivity control of `ms-cxr`: each sample is scored again with a phrase of another category.

The draw is seeded per sample (seed, sample_id), so it does not depend on --limit, on sharding or on the order
samples are processed in. The pool is every distinct phrase of the evaluated split, per category.
"""

from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np

from msxr_bench.data.types import GroundingSample

DRAW_RULE = ("uniform over the distinct (category, phrase) pairs of the evaluated split whose category differs "
             "from the sample's; numpy default_rng([seed, first 8 bytes of sha256(sample_id)])")


def draw_wrong_phrases(samples: Sequence[GroundingSample], pool: Sequence[GroundingSample],
                       seed: int) -> dict[str, tuple[str, str] | None]:
    """sample_id -> (wrong phrase, its category), or None when the pool has no other category."""
    by_category: dict[str, set[str]] = {}
    for s in pool:
        by_category.setdefault(s.category, set()).add(s.phrase)
    candidates = sorted((c, p) for c, phrases in by_category.items() for p in phrases)
    out: dict[str, tuple[str, str] | None] = {}
    for s in samples:
        other = [(p, c) for c, p in candidates if c != s.category]
        if not other:
            out[s.sample_id] = None
            continue
        key = int.from_bytes(hashlib.sha256(s.sample_id.encode("utf-8")).digest()[:8], "big")
        rng = np.random.default_rng([seed, key])
        out[s.sample_id] = other[int(rng.integers(len(other)))]
    return out
