"""The phrase-sensitivity control of `ms-cxr`: each sample is scored again with a phrase of another category.

The draw is rendezvous hashing: of the distinct (category, phrase) candidates of the evaluated split whose category
differs from the sample's, the one with the smallest sha256(seed, sample_id, category, phrase). A sample's draw
depends only on its own id and on whether its chosen candidate is still in the pool: adding or removing other
samples never moves it (unless they remove the chosen phrase itself), nor do --limit, sharding or order.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Sequence

from msxr_bench.data.types import GroundingSample

DRAW_RULE = ("rendezvous hashing: among the distinct (category, phrase) pairs of the evaluated split whose category "
             "differs from the sample's, the one with the smallest sha256(seed, sample_id, category, phrase); "
             "wrong_sample_id is the first sample of the split carrying that phrase")


@dataclass(frozen=True)
class WrongPhrase:
    sample_id: str  # the first sample (split order) that carries this phrase: an id for the results
    category: str
    phrase: str


def _rank(seed: int, sample_id: str, category: str, phrase: str) -> bytes:
    return hashlib.sha256("\0".join((str(seed), sample_id, category, phrase)).encode("utf-8")).digest()


def draw_wrong_phrases(samples: Sequence[GroundingSample], pool: Sequence[GroundingSample],
                       seed: int) -> dict[str, WrongPhrase | None]:
    """sample_id -> the wrong phrase drawn for it, or None when the pool has no other category."""
    candidates: dict[tuple[str, str], str] = {}
    for s in pool:
        candidates.setdefault((s.category, s.phrase), s.sample_id)
    out: dict[str, WrongPhrase | None] = {}
    for s in samples:
        other = [key for key in candidates if key[0] != s.category]
        if not other:
            out[s.sample_id] = None
            continue
        category, phrase = min(other, key=lambda key: _rank(seed, s.sample_id, *key))
        out[s.sample_id] = WrongPhrase(candidates[(category, phrase)], category, phrase)
    return out
