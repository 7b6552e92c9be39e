"""Progression-contrast batches: the change lexicon, the finding key, chunks of distinct progressions per finding,
and the sampler's epoch (every position once, resumable, sharded, deterministic)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from msxr_bench.training.data import EpochBatchSampler
from msxr_bench.training.progression_batches import (
    ProgressionBatchSampler, finding_key, progression_chunks, progression_of,
)


@pytest.mark.parametrize("caption, progression", [
    ("Worsening left pleural effusion.", "worsening"),
    ("Left pleural effusion has increased since the prior study.", "worsening"),
    ("Right pneumothorax, larger than on the prior radiograph.", "worsening"),
    ("Improving right lower lobe pneumonia.", "improving"),
    ("Interval decrease in pulmonary edema.", "improving"),
    ("No interval change in edema.", "stable"),
    ("Left pneumothorax persists without change.", "stable"),
    ("Mildly enlarged heart.", None),  # a state, not a change
    ("Small right pleural effusion.", None),
    ("Effusion has decreased, pneumothorax has increased.", None),  # two classes: not paired
])
def test_the_lexicon_reads_one_progression_class(caption: str, progression: str | None) -> None:
    assert progression_of(caption) == progression


def test_captions_differing_only_in_the_change_share_their_key() -> None:
    same = ["Worsening left pleural effusion.", "Left pleural effusion has decreased since the prior study.",
            "No interval change in left pleural effusion.", "Left pleural effusion, unchanged from the prior radiograph."]
    assert {finding_key(c) for c in same} == {"left pleural effusion"}
    assert finding_key("Worsening right pleural effusion.") != finding_key(same[0])


def test_chunks_hold_distinct_progressions_of_one_finding_and_cover_every_position() -> None:
    keys = [("a", "worsening"), ("a", "stable"), ("a", "stable"), None, ("b", "improving"), ("a", "improving"),
            ("b", "worsening"), None, ("a", "worsening")]
    chunks = progression_chunks(keys, np.random.default_rng(0))
    assert sorted(p for c in chunks for p in c) == list(range(len(keys)))
    for chunk in chunks:
        labelled = [keys[p] for p in chunk]
        if None in labelled:
            assert len(chunk) == 1
        else:
            assert len({k for k, _ in labelled}) == 1 and len({c for _, c in labelled}) == len(chunk)
    # "a" has 2 worsening, 2 stable, 1 improving: chunks of 3 and 2; "b": one chunk of 2
    assert sorted(len(c) for c in chunks) == [1, 1, 2, 2, 3]
    assert progression_chunks(keys, np.random.default_rng(0)) == chunks


def _captions(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    places = [f"{side} {zone} {noun}" for side in ("left", "right") for zone in ("upper", "mid", "lower", "basal")
              for noun in ("consolidation", "pneumonia", "opacity")]  # 24 findings, as in a real report corpus
    words = ["Worsening {}.", "Stable {}.", "Improving {}.", "Small {}."]
    return [words[rng.integers(4)].format(places[rng.integers(len(places))]) for _ in range(n)]


def test_the_sampler_regroups_the_epoch_and_resumes_like_the_random_one() -> None:
    captions = _captions(200)
    caption = lambda epoch, position: captions[position]  # noqa: E731
    grouped = list(ProgressionBatchSampler(200, 16, epoch=1, seed=3, caption=caption))
    plain = list(EpochBatchSampler(200, 16, epoch=1, seed=3))
    assert len(grouped) == len(plain) == 12
    flat = [k for b in grouped for k in b]
    assert len(set(flat)) == len(flat) == 192 and {e for e, _ in flat} == {1}  # each position at most once
    assert list(ProgressionBatchSampler(200, 16, epoch=1, seed=3, caption=caption, skip_batches=5)) == grouped[5:]
    assert list(ProgressionBatchSampler(200, 16, epoch=2, seed=3, caption=caption)) != grouped

    def contrast_pairs(batches: list[list[tuple[int, int]]]) -> int:
        """Pairs in one batch with the same finding key and different progressions."""
        count = 0
        for batch in batches:
            keys = [(finding_key(captions[i]), progression_of(captions[i])) for _, i in batch]
            keys = [k for k in keys if k[1]]
            count += sum(a[0] == b[0] and a[1] != b[1] for j, a in enumerate(keys) for b in keys[j + 1:])
        return count

    assert contrast_pairs(grouped) >= 2 * contrast_pairs(plain)  # measured 81 vs 27
    shards = [list(ProgressionBatchSampler(200, 16, epoch=1, seed=3, caption=caption, rank=r, world_size=2))
              for r in range(2)]
    positions = Counter(k[1] for shard in shards for b in shard for k in b)
    assert len(positions) == sum(positions.values()) == 192  # two shards of 6 batches, disjoint
