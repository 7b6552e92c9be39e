"""Radiology phrases for findings: synonyms, severity, location, hedges, varied capitalisation.

`phrase(finding, rng)` gives an MS-CXR-style phrase ("small left apical pneumothorax"); `negation`
gives a sentence that denies categories ("No focal consolidation, pleural effusion, or pneumothorax.").
Locations use the patient's side, as reports do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from msxr_bench.toyworld.findings import Finding


@dataclass(frozen=True)
class Phrase:
    text: str
    plural: bool = False  # grammatical number of the head noun ("There are ..." vs "There is ...")
    uncertain: bool = False  # hedged with "could represent", "possibly", ...


def pick(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


# Location of a lung-zone finding: (adjective form, prepositional form) per (side, zone).
ZONE_LOCATIONS: dict[tuple[str, str], list[tuple[str, str]]] = {}
for _side in ("left", "right"):
    ZONE_LOCATIONS[(_side, "upper")] = [
        (f"{_side} upper lobe", f"in the {_side} upper lobe"), (f"{_side} apical", f"at the {_side} apex"),
        (f"{_side} upper lung", f"in the {_side} upper lung"), (f"{_side} upper zone", f"in the {_side} upper zone"),
    ]
    ZONE_LOCATIONS[(_side, "lower")] = [
        (f"{_side} lower lobe", f"in the {_side} lower lobe"), (f"{_side} basilar", f"at the {_side} base"),
        (f"{_side} lower lung", f"in the {_side} lower lung"), (f"{_side} base", f"at the {_side} lung base"),
    ]
ZONE_LOCATIONS[("right", "mid")] = [
    ("right middle lobe", "in the right middle lobe"), ("right mid lung", "in the right mid lung"),
    ("right midlung", "in the right midlung zone"),
]
ZONE_LOCATIONS[("left", "mid")] = [
    ("lingular", "in the lingula"), ("left mid lung", "in the left mid lung"),
    ("left midlung", "in the left midlung zone"),
]
ZONE_LOCATIONS[("left", "retrocardiac")] = [
    ("retrocardiac", "in the retrocardiac region"), ("left retrocardiac", "behind the heart"),
]
BASAL_LOCATIONS = {
    "left": [("left basilar", "at the left base"), ("left lower lobe", "in the left lower lobe"),
             ("left base", "at the left lung base")],
    "right": [("right basilar", "at the right base"), ("right lower lobe", "in the right lower lobe"),
              ("right base", "at the right lung base")],
    "bilateral": [("bibasilar", "at both lung bases"), ("bilateral basilar", "at the lung bases")],
}
CERTAIN_HEDGES = ("concerning for", "compatible with", "consistent with", "likely", "suspicious for")
UNCERTAIN_HEDGES = ("which could represent", "possibly", "may represent", "cannot exclude")

SIZE_WORDS = {"small": ("small ", "focal ", ""), "moderate": ("", "moderate ", "patchy "),
              "large": ("large ", "extensive ", "dense ")}
SUBTLE_WORDS = ("subtle ", "faint ", "mild ", "minimal ")
DEGREE_WORDS = {"mild": ("mild ", "mild ", "minimal "), "moderate": ("moderate ", "moderate ", ""),
                "severe": ("severe ", "marked ", "severe ")}
ADVERBS = {"mild": "mildly", "moderate": "moderately", "severe": "markedly"}


def _hedge(rng: np.random.Generator, f: Finding) -> tuple[str, bool]:
    if f.hedge:
        return pick(rng, UNCERTAIN_HEDGES), True
    return pick(rng, CERTAIN_HEDGES), False


def _location(rng: np.random.Generator, f: Finding) -> tuple[str, str]:
    if f.category == "Atelectasis" and f.zone == "basal":
        return pick(rng, BASAL_LOCATIONS[f.side])
    return pick(rng, ZONE_LOCATIONS[(f.side, f.zone)])


def _size(rng: np.random.Generator, f: Finding) -> str:
    return pick(rng, SUBTLE_WORDS) if f.hard else pick(rng, SIZE_WORDS.get(f.severity, ("",)))


def _patch(rng: np.random.Generator, f: Finding) -> Phrase:
    adj, prep = _location(rng, f)
    size = _size(rng, f)
    hedge, unsure = _hedge(rng, f)
    if f.category == "Pneumonia":
        options = [
            Phrase(f"{size}{adj} pneumonia"),
            Phrase(f"{size}opacity {prep}, {hedge} pneumonia", uncertain=unsure),
            Phrase(f"{adj} airspace disease, {hedge} pneumonia", uncertain=unsure),
            Phrase(f"{size}{adj} opacity {hedge} pneumonia", uncertain=unsure),
            Phrase(f"pneumonia {prep}"),
        ]
    elif f.category == "Consolidation":
        options = [
            Phrase(f"{size}{adj} consolidation"), Phrase(f"consolidation {prep}"),
            Phrase(f"{size}{adj} consolidative opacity"), Phrase(f"{size}airspace consolidation {prep}"),
            Phrase(f"{adj} consolidation, {hedge} infection", uncertain=unsure),
        ]
    else:
        options = [
            Phrase(f"{size}{adj} opacity"), Phrase(f"{adj} opacities", plural=True),
            Phrase(f"{size}opacity {prep}"), Phrase(f"hazy opacity {prep}"), Phrase(f"{size}{adj} airspace opacity"),
            Phrase(f"ill-defined opacity {prep}"), Phrase(f"increased opacity {prep}"),
        ]
    return pick(rng, options)


def _atelectasis(rng: np.random.Generator, f: Finding) -> Phrase:
    adj, prep = _location(rng, f)
    mild = pick(rng, SUBTLE_WORDS) if f.hard else pick(rng, DEGREE_WORDS[f.severity])
    hedge, unsure = _hedge(rng, f)
    options = [
        Phrase(f"{mild}{adj} atelectasis"), Phrase(f"{mild}plate-like atelectasis {prep}"),
        Phrase(f"subsegmental atelectasis {prep}"),
        Phrase(f"linear opacity {prep}, {hedge} atelectasis", uncertain=unsure),
        Phrase(f"{adj} opacities, {hedge} atelectasis", plural=True, uncertain=unsure),
    ]
    return pick(rng, options)


def _effusion(rng: np.random.Generator, f: Finding) -> Phrase:
    size = pick(rng, {"small": ("small ", "small "), "moderate": ("moderate ", "moderate-sized ", ""),
                      "large": ("large ", "large ")}[f.severity])
    if f.side == "bilateral":
        return pick(rng, [
            Phrase(f"{size}bilateral pleural effusions", plural=True),
            Phrase(f"{size}bilateral effusions", plural=True),
            Phrase(f"{size}pleural effusions bilaterally", plural=True),
            Phrase(f"{size}bilateral pleural effusions, layering", plural=True),
        ])
    side = f.side
    options = [
        Phrase(f"{size}{side} pleural effusion"), Phrase(f"{size}{side} effusion"),
        Phrase(f"{size}pleural effusion on the {side}"), Phrase(f"layering {side} pleural effusion"),
        Phrase(f"{size}{side}-sided pleural effusion"),
    ]
    if f.severity == "small":
        options.append(Phrase(f"blunting of the {side} costophrenic angle, consistent with a small effusion"))
    return pick(rng, options)


def _pneumothorax(rng: np.random.Generator, f: Finding) -> Phrase:
    size = pick(rng, {"small": ("small ", "tiny ", "trace "), "moderate": ("moderate ", "", "moderate-sized "),
                      "large": ("large ", "large ")}[f.severity])
    where = "apical" if f.zone == "apical" else "lateral"
    prep = f"at the {f.side} apex" if f.zone == "apical" else f"along the {f.side} lateral chest wall"
    return pick(rng, [
        Phrase(f"{size}{f.side} {where} pneumothorax"), Phrase(f"{size}{f.side} pneumothorax"),
        Phrase(f"{size}pneumothorax {prep}"), Phrase(f"{size}{f.side}-sided pneumothorax"),
    ])


def _cardiomegaly(rng: np.random.Generator, f: Finding) -> Phrase:
    degree = pick(rng, DEGREE_WORDS[f.severity])
    return pick(rng, [
        Phrase(f"{degree}cardiomegaly"), Phrase(f"{degree}enlargement of the cardiac silhouette"),
        Phrase("enlarged cardiac silhouette"), Phrase(f"{ADVERBS[f.severity]} enlarged heart"),
        Phrase(f"stable {degree}cardiomegaly"),
    ])


def _edema(rng: np.random.Generator, f: Finding) -> Phrase:
    degree = pick(rng, DEGREE_WORDS[f.severity])
    hedge, unsure = _hedge(rng, f)
    return pick(rng, [
        Phrase(f"{degree}pulmonary edema"), Phrase(f"{degree}interstitial edema"),
        Phrase(f"perihilar haziness, {hedge} {degree}pulmonary edema", uncertain=unsure),
        Phrase(f"bilateral perihilar opacities, {hedge} edema", plural=True, uncertain=unsure),
        Phrase(f"{degree}pulmonary vascular congestion and edema"),
    ])


PHRASERS = {"Pneumonia": _patch, "Consolidation": _patch, "Lung Opacity": _patch, "Atelectasis": _atelectasis,
            "Pleural Effusion": _effusion, "Pneumothorax": _pneumothorax, "Cardiomegaly": _cardiomegaly,
            "Edema": _edema}


def phrase(f: Finding, rng: np.random.Generator) -> Phrase:
    """An MS-CXR-style phrase for the finding (lower case but for varied capitalisation)."""
    p = PHRASERS[f.category](rng, f)
    text = " ".join(p.text.split())
    roll = rng.random()
    if roll < 0.45:
        text = text[0].upper() + text[1:]
    elif roll < 0.48:
        text = text.upper()
    return Phrase(text, p.plural, p.uncertain)


# Noun forms used in negations, per category.
NEGATED_NOUNS = {
    "Pneumonia": ("pneumonia",), "Consolidation": ("focal consolidation", "consolidation"),
    "Lung Opacity": ("focal opacity", "airspace opacity"), "Atelectasis": ("atelectasis",),
    "Pleural Effusion": ("pleural effusion", "effusion"), "Pneumothorax": ("pneumothorax",),
    "Edema": ("pulmonary edema", "edema"), "Cardiomegaly": ("cardiomegaly",),
}
SINGLE_NEGATIONS = {
    "Pneumonia": ("No evidence of pneumonia.", "No findings to suggest pneumonia.", "There is no pneumonia."),
    "Cardiomegaly": ("Heart size is normal.", "No cardiomegaly.", "The cardiac silhouette is not enlarged."),
    "Pneumothorax": ("No pneumothorax.", "There is no pneumothorax.", "No evidence of pneumothorax."),
}


def negation(categories: list[str], rng: np.random.Generator) -> str:
    """One sentence denying the given categories."""
    if len(categories) == 1:
        cat = categories[0]
        fixed = SINGLE_NEGATIONS.get(cat, ())
        noun = pick(rng, NEGATED_NOUNS[cat])
        options = list(fixed) + [f"No {noun}.", f"There is no {noun}.", f"No evidence of {noun}."]
        return pick(rng, options)
    nouns = [pick(rng, NEGATED_NOUNS[c]) for c in categories]
    listed = ", ".join(nouns[:-1]) + ("," if len(nouns) > 2 else "") + " or " + nouns[-1]
    return pick(rng, (f"No {listed}.", f"There is no {listed}.", f"No evidence of {listed}."))
