"""Temporal text of the toy world: current reports that state how each finding changed since the prior study
(MIMIC `.txt` layout), and the MS-CXR-T-style sentence pairs (temporal paraphrases and contradictions). A change
sentence names the finding and its place but not its size (the size says nothing about the change)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from msxr_bench.toyworld.findings import Finding, sample_finding
from msxr_bench.toyworld.phrases import ZONE_LOCATIONS, negation, phrase, pick
from msxr_bench.toyworld.reports import Report, _layout, _negatable, sentence

if TYPE_CHECKING:
    from msxr_bench.toyworld.temporal import TemporalFinding

TEMPORAL_TEMPLATES: dict[str, tuple[str, ...]] = {
    "worsening": ("Worsening {p}.", "{P} has increased since the prior study.", "Interval increase in {p}.",
                  "{P}, larger than on the prior radiograph.", "{P} has progressed."),
    "improving": ("Improving {p}.", "{P} has decreased since the prior study.", "Interval decrease in {p}.",
                  "{P}, smaller than on the prior radiograph.", "{P} has improved."),
    "stable": ("Stable {p}.", "{P} is unchanged since the prior study.", "No interval change in {p}.",
               "{P}, unchanged from the prior radiograph.", "{P} persists without change."),
}
SIMILARITY_CATEGORIES = ("paraphrase", "contradiction")


NOUNS = {"Pleural Effusion": ("pleural effusion", "effusion"), "Pneumothorax": ("pneumothorax",),
         "Consolidation": ("consolidation",), "Pneumonia": ("pneumonia",), "Edema": ("pulmonary edema", "edema")}


def change_phrase(f: Finding, rng: np.random.Generator) -> str:
    """What a change sentence names: the finding and its place, never its size ("left pleural effusion", "right
    lower lobe consolidation"), as radiologists write "Increasing left pleural effusion"."""
    noun = pick(rng, NOUNS[f.category])
    if f.category == "Edema":
        return noun
    if f.category == "Pleural Effusion":
        return f"bilateral {noun}s" if f.side == "bilateral" else f"{f.side} {noun}"
    if f.category == "Pneumothorax":
        return f"{f.side} {'apical ' if f.zone == 'apical' and rng.random() < 0.5 else ''}{noun}"
    return f"{pick(rng, ZONE_LOCATIONS[(f.side, f.zone)])[0]} {noun}"


def _fill(template: str, p: str) -> str:
    inner = p if p.isupper() else p[0].lower() + p[1:]
    return template.format(P=p[0].upper() + p[1:], p=inner)


def temporal_sentence(p: str, progression: str, rng: np.random.Generator) -> str:
    """A sentence saying that the finding `p` (a phrase) is worsening / improving / stable."""
    return _fill(pick(rng, TEMPORAL_TEMPLATES[progression]), p)


def temporal_report(changes: list["TemporalFinding"], static: list[Finding], rng: np.random.Generator,
                    view: str, sex: str) -> Report:
    """The current study's report: FINDINGS describe each finding as it is now and say how it changed, the
    IMPRESSION states the changes only; absent findings are denied."""
    phrases = [phrase(c.current, rng) for c in changes] + [phrase(f, rng) for f in static]
    stated = [sentence(p, rng) for p in phrases[:len(changes)]]
    stated += [temporal_sentence(change_phrase(c.current, rng), c.progression, rng) for c in changes]
    stated += [temporal_sentence(p.text, "stable", rng) for p in phrases[len(changes):]]
    findings = [c.current for c in changes] + static
    absent = _negatable(findings)
    denied = [absent[i] for i in sorted(rng.choice(len(absent), size=min(2, len(absent)), replace=False))]
    body = stated + ([negation(denied, rng)] if denied else [])
    impression = ["  ".join(temporal_sentence(change_phrase(c.current, rng), c.progression, rng) for c in changes)]
    text = _layout(body, impression, rng, view, False, sex, with_findings=True)
    text = text.replace(" COMPARISON:  None.", " COMPARISON:  Chest radiograph ___")  # there is a prior study
    chexpert: dict = {c: 0.0 for c in denied}
    chexpert.update({f.category: 1.0 for f in findings})
    return Report(text=text, phrases=phrases, negated=denied, chexpert=chexpert)


def sentence_pairs(rng: np.random.Generator, n: int) -> list[dict[str, str]]:
    """`n` rows of the sentence-similarity file: two statements about one finding that agree on its change
    (paraphrase: two wordings) or disagree (contradiction: another progression), about half each."""
    from msxr_bench.toyworld.temporal import PROGRESSIONS, TEMPORAL_CATEGORIES

    rows = []
    categories = list(TEMPORAL_CATEGORIES.values())
    for i in range(n):
        finding = sample_finding(rng, pick(rng, categories))
        p = change_phrase(finding if finding.zone != "retrocardiac" else finding.with_side("left"), rng)
        progression = pick(rng, PROGRESSIONS)
        category = SIMILARITY_CATEGORIES[i % 2]
        other = progression if category == "paraphrase" else pick(rng, [q for q in PROGRESSIONS if q != progression])
        first = pick(rng, TEMPORAL_TEMPLATES[progression])
        second = pick(rng, [t for t in TEMPORAL_TEMPLATES[other] if t != first])
        rows.append({"sentence_1": _fill(first, p), "sentence_2": _fill(second, p), "category": category})
    order = rng.permutation(n)
    return [rows[j] for j in order]
