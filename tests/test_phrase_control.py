"""The phrase-sensitivity control's draw (ms-cxr 1.1.0): rendezvous hashing, stable when other samples come or go."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from msxr_bench.data.mscxr import find_mscxr_annotations, load_mscxr
from msxr_bench.tasks.grounding.phrase_control import draw_wrong_phrases


@pytest.fixture(scope="module")
def pool(toyworld_root: Path):
    return load_mscxr(find_mscxr_annotations(toyworld_root, "0.1"), toyworld_root)[0]


def test_the_draw_is_the_smallest_hash_of_another_category(pool) -> None:
    drawn = draw_wrong_phrases(pool, pool, seed=3)
    candidates = {(s.category, s.phrase) for s in pool}
    for s in pool:
        others = [c for c in candidates if c[0] != s.category]
        want = min(others, key=lambda c: hashlib.sha256(f"3\0{s.sample_id}\0{c[0]}\0{c[1]}".encode()).digest())
        got = drawn[s.sample_id]
        assert (got.category, got.phrase) == want and got.category != s.category
        first = next(p for p in pool if (p.category, p.phrase) == want)
        assert got.sample_id == first.sample_id  # the id recorded in the rows, never the phrase


def test_removing_one_sample_moves_no_other_draw(pool) -> None:
    """The old draw (uniform index into the pool) moved 12 of 44 draws when one sample was removed."""
    full = draw_wrong_phrases(pool, pool, seed=0)
    for removed in pool[:8]:
        rest = [s for s in pool if s.sample_id != removed.sample_id]
        still = {(s.category, s.phrase) for s in rest}
        again = draw_wrong_phrases(rest, rest, seed=0)
        moved = [s.sample_id for s in rest
                 if (full[s.sample_id].category, full[s.sample_id].phrase) in still
                 and (again[s.sample_id].category, again[s.sample_id].phrase)
                 != (full[s.sample_id].category, full[s.sample_id].phrase)]
        assert moved == [], (removed.sample_id, moved)


def test_the_draw_depends_on_the_seed_and_not_on_order(pool) -> None:
    a = draw_wrong_phrases(pool, pool, seed=0)
    b = draw_wrong_phrases(list(reversed(pool)), pool, seed=0)
    c = draw_wrong_phrases(pool, pool, seed=1)
    key = {k: (v.category, v.phrase) for k, v in a.items()}
    assert key == {k: (v.category, v.phrase) for k, v in b.items()}
    assert sum(key[k] != (v.category, v.phrase) for k, v in c.items()) > len(pool) // 2
    single = [s for s in pool if s.category == pool[0].category]
    assert set(draw_wrong_phrases(single, single, seed=0).values()) == {None}  # no other category: no control
