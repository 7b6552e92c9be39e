"""The temporal part of the toy world: the rest of the world is unchanged by it (every file of the committed
fixture is written byte for byte; the MIMIC tables only gain the temporal studies' rows), priors are earlier
frontal studies of the same subject, a finding really grows / shrinks / stays between prior and current, the
current report says so, and both MS-CXR-T files read back without a skip."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from msxr_bench.data.mscxr_t import (
    IMAGE_FILE, SENTENCE_FILE, find_mscxrt_file, load_progression, load_sentence_pairs,
)
from msxr_bench.toyworld import generate
from msxr_bench.toyworld.anatomy import base_scene, make_frame, sample_anatomy
from msxr_bench.toyworld.draw import paint
from msxr_bench.toyworld.plan import plan_mimic
from msxr_bench.toyworld.scales import get_scale
from msxr_bench.toyworld.temporal import PRIOR_SHIFT, plan_temporal
from msxr_bench.toyworld.temporal_reports import TEMPORAL_TEMPLATES
from toy_world import FIXTURE_WORLD as FIXTURE
from toy_world import fixture_is_complete, generated_world
TABLES = ("split", "metadata", "chexpert")


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """A freshly generated tiny world (the one the other tests use when the fixture predates MS-CXR-T)."""
    if not fixture_is_complete():
        return generated_world()
    out = tmp_path_factory.mktemp("toyworld-temporal")
    generate(out, seed=0, scale="tiny")
    return out


@pytest.fixture(scope="module")
def truth(world: Path) -> dict:
    return json.loads((world / "toyworld-temporal.json").read_text())


def _table(root: Path, name: str) -> pd.DataFrame:
    raw = gzip.decompress((root / "mimic-cxr-jpg" / f"mimic-cxr-2.0.0-{name}.csv.gz").read_bytes())
    return pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False)


def test_every_file_of_the_fixture_is_written_byte_for_byte_and_tables_only_gain_rows(world: Path, truth) -> None:
    if not (FIXTURE / "toyworld.json").is_file():
        pytest.skip("this checkout has no committed fixture")
    changed = []
    for path in sorted(p for p in FIXTURE.rglob("*") if p.is_file()):
        rel = path.relative_to(FIXTURE)
        if hashlib.sha256(path.read_bytes()).digest() != hashlib.sha256((world / rel).read_bytes()).digest():
            changed.append(str(rel))
    assert changed == [f"mimic-cxr-jpg/mimic-cxr-2.0.0-{t}.csv.gz" for t in ("chexpert", "metadata", "split")] or \
        changed == []  # [] once the fixture has been regenerated with the temporal part
    temporal_studies = {e["study_id"] for e in truth["images"].values()}
    for name in TABLES:
        old, new = _table(FIXTURE, name), _table(world, name)
        assert list(old.columns) == list(new.columns)
        old_rows = set(map(tuple, old.to_numpy()))
        added = [r for r in map(tuple, new.to_numpy()) if r not in old_rows]
        assert old_rows <= set(map(tuple, new.to_numpy()))
        assert {r[list(new.columns).index("study_id")] for r in added} <= temporal_studies
        assert len(new) == len(old) + len(added)


def test_prior_is_an_earlier_frontal_study_of_the_same_subject(world: Path, truth) -> None:
    meta = _table(world, "metadata").set_index("dicom_id")
    stamp = lambda d: (int(meta.loc[d, "StudyDate"]), float(meta.loc[d, "StudyTime"]))  # noqa: E731
    same_day = 0
    for subject in truth["subjects"]:
        current, prior = subject["current"], subject["prior"]
        assert meta.loc[prior, "subject_id"] == meta.loc[current, "subject_id"] == subject["subject_id"]
        assert meta.loc[prior, "ViewPosition"] in ("PA", "AP") and meta.loc[current, "ViewPosition"] in ("PA", "AP")
        assert stamp(prior) < stamp(current)
        same_day += stamp(prior)[0] == stamp(current)[0]
        later = [d for d in meta.index[meta.subject_id == subject["subject_id"]] if stamp(prior) < stamp(d) < stamp(current)]
        assert not later  # nothing between them: the prior is *the* previous study
    assert same_day >= 1  # some priors differ from the current study by StudyTime only
    assert (meta.ViewPosition == "LATERAL").any()


def _mass(anatomy, finding) -> float:
    scene = base_scene(anatomy, make_frame(anatomy, 256, 256))
    delta, _ = paint(scene, finding)
    return float(np.abs(delta).sum())


def test_findings_grow_shrink_or_stay_as_their_label_says() -> None:
    scale = get_scale("tiny")
    subjects = plan_temporal(0, scale, plan_mimic(0, scale))
    rng = np.random.default_rng(1)
    seen = Counter()
    for subject in subjects:
        for change in subject.changes:
            anatomy = sample_anatomy(rng)
            ratio = _mass(anatomy, change.current) / _mass(anatomy, change.prior)
            if change.progression == "worsening":
                assert ratio > 1.15, (change.finding, ratio)
            elif change.progression == "improving":
                assert ratio < 1 / 1.15, (change.finding, ratio)
            else:
                assert ratio == pytest.approx(1.0)
            assert change.current_level in (1, 2, 3)  # the same for every progression: one image cannot tell
            seen[change.progression] += 1
    assert min(seen.values()) >= 5 and PRIOR_SHIFT == {"improving": 1, "stable": 0, "worsening": -1}


def test_current_reports_state_the_labelled_change(world: Path, truth) -> None:
    words = {p: [t.split("{")[0].strip() or t.split("}")[1].split("the prior")[0].strip(" ,.") for t in ts]
             for p, ts in TEMPORAL_TEMPLATES.items()}
    for subject in truth["subjects"]:
        image = truth["images"][subject["current"]]
        report = (world / "mimic-cxr-reports" / (str(Path(image["path"]).parent) + ".txt")).read_text()
        impression = " ".join(report.split("IMPRESSION:")[1].split())
        for change in subject["changes"]:
            assert any(w in impression for w in words[change["progression"]]), (impression, change)


def test_both_mscxrt_files_read_back_without_skips(world: Path, truth) -> None:
    samples, skips = load_progression(find_mscxrt_file(world, IMAGE_FILE), world)
    assert skips.total == 0, skips.summary()
    expected = {(s["current"], c["finding"]): c for s in truth["subjects"] if s["mscxrt"] for c in s["changes"]}
    assert {(s.dicom_id, s.finding) for s in samples} == set(expected)
    for s in samples:
        assert s.label == expected[(s.dicom_id, s.finding)]["progression"]
        assert s.image_path.is_file() and s.previous_image_path.is_file()
    assert {s.label for s in samples} == {"improving", "stable", "worsening"}
    split = _table(world, "split").set_index("study_id").split
    assert Counter(split[s.study_id].iloc[0] if hasattr(split[s.study_id], "iloc") else split[s.study_id]
                   for s in samples)["test"] > len(samples) / 2
    pairs, skips = load_sentence_pairs(find_mscxrt_file(world, SENTENCE_FILE))
    assert skips.total == 0 and len(pairs) == get_scale("tiny").mscxrt_sentence_pairs
    assert Counter(p.category for p in pairs) == {"paraphrase": 20, "contradiction": 20}
    for p in pairs:
        first, second = (_progression_of(p.sentence_1), _progression_of(p.sentence_2))
        assert (first == second) == (p.category == "paraphrase"), p


def _progression_of(sentence: str) -> str:
    hits = {p for p, ts in TEMPORAL_TEMPLATES.items() for t in ts
            if all(part.strip() in sentence for part in t.replace("{P}", "{p}").split("{p}") if part.strip())}
    assert len(hits) == 1, (sentence, hits)
    return hits.pop()
