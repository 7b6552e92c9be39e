"""MIMIC-CXR free-text reports of the toy world, in the exact `.txt` layout, and CheXpert-style
labels derived from what each report says (1.0 present, -1.0 uncertain, 0.0 negated, blank)."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

import numpy as np

from msxr_bench.data.types import MS_CXR_CATEGORIES
from msxr_bench.toyworld.findings import PATCH_CATEGORIES, Finding
from msxr_bench.toyworld.phrases import Phrase, negation, phrase, pick

CHEXPERT_COLUMNS = (
    "Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Enlarged Cardiomediastinum", "Fracture",
    "Lung Lesion", "Lung Opacity", "No Finding", "Pleural Effusion", "Pleural Other", "Pneumonia",
    "Pneumothorax", "Support Devices",
)
HEADER = " " * 33 + "FINAL REPORT"
WIDTH = 79  # every line, leading space included

INDICATIONS = (
    "cough and fever", "shortness of breath", "chest pain", "hypoxia", "fever", "dyspnea on exertion",
    "productive cough", "pre-operative evaluation", "fall", "tachypnea", "leukocytosis", "weakness",
)
QUESTIONS = ("eval for pneumonia", "?pneumonia", "r/o effusion", "eval for acute process", "?ptx", "?chf")


@dataclass
class Report:
    text: str
    phrases: list[Phrase]  # one per finding, in finding order (appears verbatim in the text)
    negated: list[str]  # categories the report denies
    chexpert: dict  # column -> 1.0 / 0.0 / -1.0 (absent keys are blank)


def sentence(p: Phrase, rng: np.random.Generator, used: set[str] | None = None) -> str:
    """A report sentence stating the phrase (a wording not in `used`, which it updates, if possible)."""
    text = p.text
    be = "are" if p.plural else "is"
    if "," in text:
        options = ["{P}.", "There {be} {p}.", "Findings are notable for {p}."]
    else:
        options = ["{P}.", "There {be} {p}.", "{P} {be} noted.", "{P} {be} again seen.", "{P} {be} present.",
                   "Interval development of {p}.", "Findings are notable for {p}."]
    fresh = [o for o in options if o not in (used or ())]
    template = pick(rng, fresh or options)
    if used is not None:
        used.add(template)
    inner = text if text.isupper() else text[0].lower() + text[1:]
    return template.format(P=text[0].upper() + text[1:], p=inner, be=be)


def _negatable(findings: list[Finding]) -> list[str]:
    present = {f.category for f in findings}
    blocked = set(present)
    if present & set(PATCH_CATEGORIES):  # do not deny an opacity's near-synonyms
        blocked |= set(PATCH_CATEGORIES)
    if present & {"Atelectasis", "Edema"}:  # nor deny "opacity" when other opacities are present
        blocked.add("Lung Opacity")
    return [c for c in MS_CXR_CATEGORIES if c not in blocked]


def _paragraph(sentences: list[str]) -> list[str]:
    return [" " + line for line in textwrap.wrap("  ".join(sentences), WIDTH - 1, break_on_hyphens=False)]


def make_report(findings: list[Finding], rng: np.random.Generator, view: str, has_lateral: bool,
                sex: str) -> Report:
    """A report whose FINDINGS and IMPRESSION describe `findings` and deny some absent ones."""
    phrases = [phrase(f, rng) for f in findings]
    candidates = _negatable(findings)
    n_neg = min(len(candidates), int(rng.integers(1, 4)))
    negated = [candidates[i] for i in sorted(rng.choice(len(candidates), size=n_neg, replace=False))] if n_neg else []
    if not findings and "Pneumonia" in candidates and "Pneumonia" not in negated and rng.random() < 0.6:
        negated.append("Pneumonia")  # counterfactual negatives teach "no evidence of pneumonia"

    used: set[str] = set()
    body = [sentence(p, rng, used) for p in phrases]
    if not any(f.category in PATCH_CATEGORIES + ("Edema",) for f in findings) and rng.random() < 0.7:
        clear = ("The lungs are otherwise clear.",) if findings else ("The lungs are clear.",
                                                                     "Lungs are well expanded and clear.")
        body.append(pick(rng, clear))
    if "Cardiomegaly" not in {f.category for f in findings} and "Cardiomegaly" not in negated:
        body.append(pick(rng, ("The cardiomediastinal silhouette is within normal limits.",
                               "Cardiomediastinal contours are normal.", "Heart size is normal.")))
    rest = [c for c in negated if c != "Pneumonia" or findings]
    if rest:
        body.append(negation(rest[:3], rng) if rng.random() < 0.6 else "  ".join(negation([c], rng) for c in rest))
    body.append(pick(rng, ("No acute osseous abnormality.", "Osseous structures are intact.", "")))
    body = [s for s in body if s]

    impression: list[str] = []
    if findings:
        items = [p.text[0].upper() + p.text[1:] + "." for p in phrases]
        if len(items) > 1 and rng.random() < 0.5:
            impression = [f"{i + 1}. {item}" for i, item in enumerate(items)]
        else:
            impression = ["  ".join(items)]
        if "Pneumonia" in negated and rng.random() < 0.7:
            impression.append(negation(["Pneumonia"], rng))
    else:
        impression = [pick(rng, ("No acute cardiopulmonary process.", "No acute intrathoracic abnormality.",
                                 "Normal chest radiograph."))]
        if "Pneumonia" in negated:
            impression.append(negation(["Pneumonia"], rng))
    text = _layout(body, impression, rng, view, has_lateral, sex, with_findings=rng.random() > 0.08)
    return Report(text=text, phrases=phrases, negated=negated, chexpert=_chexpert(findings, phrases, negated))


def _layout(body: list[str], impression: list[str], rng: np.random.Generator, view: str, has_lateral: bool,
            sex: str, with_findings: bool) -> str:
    if view == "AP":
        exam, technique = "CHEST (PORTABLE AP)", "Portable AP chest radiograph"
    elif has_lateral:
        exam, technique = "CHEST (PA AND LAT)", "Chest PA and lateral"
    else:
        exam, technique = "CHEST (PA)", "Chest PA"
    who = "man" if sex == "M" else "woman"
    indication = f"___ year old {who} with {pick(rng, INDICATIONS)}  // {pick(rng, QUESTIONS)}"
    lines = [HEADER, f" EXAMINATION:  {exam}", " "]
    lines += textwrap.wrap(f" INDICATION:  {indication}", WIDTH, subsequent_indent=" ") + [" "]
    comparison = pick(rng, ("___", "None.", "Chest radiograph ___"))
    lines += [f" TECHNIQUE:  {technique}", " ", f" COMPARISON:  {comparison}", " "]
    if with_findings:
        lines += [" FINDINGS: ", " "] + _paragraph(body) + [" "]
    lines += [" IMPRESSION: ", " "]
    for item in impression:
        lines += _paragraph([item])
    return "\n".join(lines) + "\n"


def _chexpert(findings: list[Finding], phrases: list[Phrase], negated: list[str]) -> dict:
    labels: dict = {c: 0.0 for c in negated}
    for f, p in zip(findings, phrases):
        labels[f.category] = -1.0 if p.uncertain else 1.0
    if not findings:
        labels["No Finding"] = 1.0
    return labels
