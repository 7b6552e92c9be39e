"""Label-fraction subsets of a training set: stratified by class, drawn per (fraction, seed), recorded by hash.

round(fraction * n_c) images of each class c (at least `min_per_class`, at most n_c), drawn without replacement
from a generator of (seed, fraction in parts per million), so a subset does not depend on the other fractions or
seeds of the run. fraction 1 is the whole set (in its order) for every seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from msxr_bench.hashing import sample_ids_sha256


@dataclass(frozen=True)
class Subset:
    fraction: float
    seed: int
    indices: np.ndarray  # positions in the training set, increasing
    per_class: dict[int, int]  # images drawn per class

    def record(self, ids: Sequence[str]) -> dict:
        return {"fraction": self.fraction, "seed": self.seed, "n": int(self.indices.size),
                "per_class": {str(c): n for c, n in sorted(self.per_class.items())},
                "sample_ids_sha256": sample_ids_sha256([ids[i] for i in self.indices])}


def stratified_subset(labels: Sequence[int], fraction: float, seed: int, min_per_class: int = 1) -> Subset:
    """The subset of `labels` positions for (fraction, seed); every class present gets >= min_per_class images."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must lie in (0, 1], got {fraction}")
    y = np.asarray(labels)
    if y.size == 0:
        raise ValueError("cannot draw a subset of an empty training set")
    if fraction == 1:
        return Subset(fraction, seed, np.arange(y.size), {int(c): int((y == c).sum()) for c in np.unique(y)})
    rng = np.random.default_rng([seed, round(fraction * 1_000_000)])
    chosen, per_class = [], {}
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        k = min(members.size, max(min_per_class, round(fraction * members.size)))
        chosen.append(rng.choice(members, size=k, replace=False))
        per_class[int(c)] = int(k)
    return Subset(fraction, seed, np.sort(np.concatenate(chosen)), per_class)
