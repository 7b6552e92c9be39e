"""Natural-language-inference pairs from world facts (RadNLI report style, MedNLI clinical style).

entailment: paraphrase, or a weaker claim (severity/location dropped; a general negation entails a
side-specific one); contradiction: negation, left/right swapped, opposite severity; neutral: an
unrelated finding (asserted or denied), or a stronger claim than the premise makes.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from msxr_bench.data.types import MS_CXR_CATEGORIES, NLI_LABELS
from msxr_bench.toyworld.findings import Finding, sample_finding
from msxr_bench.toyworld.phrases import CERTAIN_HEDGES, UNCERTAIN_HEDGES, Phrase, negation, phrase, pick
from msxr_bench.toyworld.reports import sentence

NOUNS = {"Pneumonia": "pneumonia", "Consolidation": "consolidation", "Lung Opacity": "opacity",
         "Atelectasis": "atelectasis", "Pleural Effusion": "pleural effusion", "Pneumothorax": "pneumothorax",
         "Cardiomegaly": "cardiomegaly", "Edema": "pulmonary edema"}
COUNTABLE = {"Lung Opacity", "Pleural Effusion", "Pneumothorax"}
GROUPS = {"Pneumonia": 0, "Consolidation": 0, "Lung Opacity": 0, "Atelectasis": 1, "Pleural Effusion": 2,
          "Pneumothorax": 3, "Cardiomegaly": 4, "Edema": 5}
SWAP = {"left": "right", "right": "left"}
SYNONYMS = (("pleural effusion", "effusion"), ("right-sided", "right"), ("left-sided", "left"),
            ("moderate-sized", "moderate"), ("tiny", "small"), ("trace", "small"), ("pulmonary edema", "edema"),
            ("opacity", "opacification"), ("cardiomegaly", "enlargement of the cardiac silhouette"),
            ("extensive", "large"), ("marked", "severe"), ("basilar", "basal"), ("focal ", ""))
CLINICAL_PREMISES = ("Chest x-ray showed {p}.", "CXR was notable for {p}.", "Imaging revealed {p}.",
                     "Chest radiograph demonstrated {p}.")
CLINICAL_HYPOTHESES = ("Patient has {x}", "The patient has {x}.", "Patient found to have {x}")


def _lateral(f: Finding) -> bool:
    return f.side in SWAP and f.zone != "retrocardiac"


def _claim(f: Finding, detail: int) -> str:
    """A plain noun phrase: detail 0 = category noun, 1 = with the side (if any)."""
    noun = NOUNS[f.category]
    if detail >= 1 and _lateral(f):
        return f"{f.side} {noun}"
    if detail >= 1 and f.side == "bilateral" and f.category != "Edema":
        return f"bilateral {noun}" + ("s" if f.category == "Pleural Effusion" else "")
    return noun


def _there_is(x: str, category: str, plural: bool = False) -> str:
    if plural or x.endswith("effusions"):
        return f"There are {x}."
    article = ("an " if x[0] in "aeiou" else "a ") if category in COUNTABLE else ""
    return f"There is {article}{x}."


def _plain_phrase(f: Finding, rng: np.random.Generator) -> Phrase:
    """A full phrase without hedges or commas (so that what it claims is clear)."""
    hedges = CERTAIN_HEDGES + UNCERTAIN_HEDGES
    for _ in range(20):
        p = phrase(f, rng)
        if "," not in p.text and not any(h in p.text.lower() for h in hedges):
            return p
    return Phrase(_claim(f, 1))


def paraphrase(p: Phrase, rng: np.random.Generator) -> Phrase:
    """The same claim in other words: swap one or two synonyms (either direction)."""
    text = p.text.lower()
    swaps = [(a, b) for a, b in SYNONYMS if a in text] + [(b, a) for a, b in SYNONYMS if b and b in text]
    for i in rng.permutation(len(swaps))[:2]:
        a, b = swaps[int(i)]
        if a in text:
            text = text.replace(a, b, 1)
    return Phrase(" ".join(text.split()), p.plural, p.uncertain)


class NliMaker:
    def __init__(self, rng: np.random.Generator, clinical: bool) -> None:
        self.rng, self.clinical = rng, clinical

    def fact(self, exclude_groups: set[int] = frozenset(), lateral: bool = False) -> Finding:
        cats = [c for c in MS_CXR_CATEGORIES if GROUPS[c] not in exclude_groups]
        while True:
            f = sample_finding(self.rng, pick(self.rng, cats))
            f = replace(f, hedge=False, hard=False)
            if not lateral or _lateral(f):
                return f

    def state(self, f: Finding, p: Phrase | None = None) -> str:
        """Premise sentence asserting f with full detail."""
        p = p or _plain_phrase(f, self.rng)
        if self.clinical and self.rng.random() < 0.6:
            text = p.text if p.text.isupper() else p.text[0].lower() + p.text[1:]
            return pick(self.rng, CLINICAL_PREMISES).format(p=text)
        return sentence(p, self.rng)

    def claim(self, f: Finding, detail: int) -> str:
        x = _claim(f, detail)
        if self.clinical and self.rng.random() < 0.6:
            return pick(self.rng, CLINICAL_HYPOTHESES).format(x=x)
        capital = x[0].upper() + x[1:]
        return pick(self.rng, (_there_is(x, f.category), f"{capital}.", f"{capital} is present."))

    def deny(self, f: Finding, side_specific: bool) -> str:
        if side_specific and _lateral(f):
            return pick(self.rng, (f"No {f.side} {NOUNS[f.category]}.", f"There is no {f.side} {NOUNS[f.category]}."))
        if self.clinical and self.rng.random() < 0.5:
            return f"Patient does not have {NOUNS[f.category]}"
        return negation([f.category], self.rng)

    def pair(self, label: str) -> tuple[str, str]:
        rng = self.rng
        kind = int(rng.integers(3))
        if label == "entailment":
            f = self.fact(lateral=kind == 2)
            if kind == 0:  # paraphrase: the same phrase with synonyms, in another sentence
                p = _plain_phrase(f, rng)
                return self.state(f, p), self.state(f, paraphrase(p, rng))
            if kind == 1:
                return self.state(f), self.claim(f, int(rng.integers(2)))  # weaker claim
            return self.deny(f, side_specific=False), self.deny(f, side_specific=True)
        if label == "contradiction":
            f = self.fact(lateral=kind == 2)
            if kind == 0:
                return self.state(f), self.deny(f, side_specific=bool(rng.integers(2)))
            if kind == 1:
                return self.deny(f, side_specific=False), self.claim(f, int(rng.integers(2)))
            premise = self.state(f)
            if rng.random() < 0.5:
                premise += f"  No {SWAP[f.side]}-sided {NOUNS[f.category]}."
            return premise, self.claim(f.with_side(SWAP[f.side]), 1)
        f = self.fact()
        g = self.fact(exclude_groups={GROUPS[f.category]})
        if kind == 0:
            return self.state(f), self.claim(g, int(rng.integers(2)))
        if kind == 1:
            return self.state(f), self.deny(g, side_specific=False)
        f = self.fact(lateral=True)
        return self.claim(f, 0), self.state(f)  # the hypothesis adds side and detail

    def distractor(self, premise: str, hypothesis: str) -> str:
        """Sometimes prefix the premise with a sentence about another finding (mentioned by neither)."""
        if self.rng.random() > 0.3:
            return premise
        text = (premise + " " + hypothesis).lower()
        cats = [c for c in MS_CXR_CATEGORIES if not any(
            w in text for w in (NOUNS[c], "opacit", "consolidat", "pneumonia", "heart", "cardiac", "silhouette",
                                "effusion", "edema", "atelecta", "pneumothorax"))]
        if not cats:
            return premise
        return self.state(sample_finding(self.rng, pick(self.rng, cats))) + "  " + premise


def make_pairs(rng: np.random.Generator, n: int, clinical: bool = False) -> list[tuple[str, str, str]]:
    """`n` (premise, hypothesis, label) triples, labels balanced to within one."""
    maker = NliMaker(rng, clinical)
    labels = [NLI_LABELS[i % 3] for i in range(n)]
    labels = [labels[i] for i in rng.permutation(n)]
    out = []
    for label in labels:
        premise, hypothesis = maker.pair(label)
        out.append((maker.distractor(premise, hypothesis), hypothesis, label))
    return out
