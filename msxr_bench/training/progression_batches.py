"""Progression-contrast batches (BioViL-T's tiny temporal recipe): an epoch's batches in which captions that say the
same finding at the same place but a different change ("Worsening left pleural effusion." / "Stable left pleural
effusion." / "Left pleural effusion has decreased since the prior study.") sit side by side, so the contrastive loss
can only tell them apart by the progression words on the text side and by the prior on the image side.

In a random batch the finding and its place already separate nearly every caption, so a model learns neither
(measured: benchmarks/results/temporal_prompt_cosines.md). The grouping reads the caption only: its progression
class comes from a small lexicon of change words (`progression_of`), its key is the caption with those words and
the template's filler removed (`finding_key`). Captions without exactly one progression class stay unpaired.

The order is a function of (seed, epoch, rank) alone: resumable (`skip_batches`) and the same on any number of
workers, like `EpochBatchSampler`, whose shard it reorders.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Callable

import numpy as np

from msxr_bench.training.data import EpochBatchSampler

PROGRESSION_PATTERNS: dict[str, tuple[str, ...]] = {  # radiology change wording -> class
    "worsening": (r"\bworsen\w*", r"\bincreas\w*", r"\blarger\b", r"\bprogress\w*", r"\benlarging\b"),
    "improving": (r"\bimprov\w*", r"\bdecreas\w*", r"\bsmaller\b", r"\bresolv\w*", r"\bregress\w*"),
    "stable": (r"\bstable\b", r"\bunchanged\b", r"\bno interval change\b", r"\bwithout change\b",
               r"\bpersists?\b"),
}
_CLASS_RE = {c: re.compile("|".join(p)) for c, p in PROGRESSION_PATTERNS.items()}
_FILLER = re.compile(r"\b(?:interval|change|since|the|prior|study|radiograph|than|on|from|has|is|in|no|without|"
                     r"of|a|an|and|with)\b")
_NON_WORD = re.compile(r"[^a-z ]+")


def progression_of(caption: str) -> str | None:
    """The one progression class the caption states ("improving" / "stable" / "worsening"), or None (none, or
    more than one)."""
    text = caption.lower()
    found = [c for c, pattern in _CLASS_RE.items() if pattern.search(text)]
    return found[0] if len(found) == 1 else None


def finding_key(caption: str) -> str:
    """What the caption says apart from the change: lowercase words without the change lexicon and filler."""
    text = _NON_WORD.sub(" ", caption.lower())
    for pattern in _CLASS_RE.values():
        text = pattern.sub(" ", text)
    return " ".join(_FILLER.sub(" ", text).split())


def progression_chunks(keys: list[tuple[str, str] | None], rng: np.random.Generator) -> list[list[int]]:
    """Positions cut into chunks: per finding key, one caption of each progression class at a time (2-3 positions
    of distinct classes), the rest alone; chunks in random order."""
    by_key: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    chunks: list[list[int]] = []
    for position, key in enumerate(keys):
        if key is None:
            chunks.append([position])
        else:
            by_key[key[0]][key[1]].append(position)
    for classes in by_key.values():
        queues = [list(rng.permutation(q)) for q in classes.values()]
        while any(queues):
            chunks.append([int(q.pop()) for q in queues if q])
    return [chunks[i] for i in rng.permutation(len(chunks))]


class ProgressionBatchSampler(EpochBatchSampler):
    """`EpochBatchSampler`'s shard of the epoch, reordered into progression-contrast chunks before it is cut into
    batches. `caption(epoch, position)` is the caption the dataset gives that position in that epoch."""

    def __init__(self, n: int, batch_size: int, epoch: int, seed: int, caption: Callable[[int, int], str],
                 rank: int = 0, world_size: int = 1, skip_batches: int = 0) -> None:
        super().__init__(n, batch_size, epoch, seed, rank, world_size, skip_batches=skip_batches)
        self.seed, self.rank, self.caption = seed, rank, caption

    def order(self) -> list[int]:
        shard = list(self.inner)
        keys = []
        for position in shard:
            caption = self.caption(self.epoch, position)
            progression = progression_of(caption)
            keys.append((finding_key(caption), progression) if progression else None)
        rng = np.random.default_rng([self.seed, self.epoch, self.rank, 7])
        return [shard[i] for chunk in progression_chunks(keys, rng) for i in chunk]
