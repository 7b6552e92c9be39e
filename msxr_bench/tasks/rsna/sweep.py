"""Prompt sweeps of `rsna-cls` (BioViL paper Table A.1): named (positive, negative) prompt pairs, each optionally
naming the reference pair its AUROC change is measured against.

`prompt_sweep="paper"` is Table A.1: five pairs, the change of pair 3 measured against the default pair and that of
pair 5 against pair 4 (the paper's |dAUC| compares pairs that share a query: BioViL 0.009 = 0.847 - 0.838, 0.008 =
0.839 - 0.831). Any other value is a JSON file: a list of {"name", "positive", "negative", "reference"?} with
prompts as a string or a list of strings (a list is averaged as hi-ml does).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

NAME = re.compile(r"^[A-Za-z0-9_.+-]{1,64}$")


@dataclass(frozen=True)
class PromptPair:
    name: str
    positive: tuple[str, ...]
    negative: tuple[str, ...]
    reference: str | None = None  # the pair whose AUROC this one's change is measured against

    def record(self) -> dict:
        return {"name": self.name, "positive": list(self.positive), "negative": list(self.negative),
                "reference": self.reference}


_SUGGESTING, _CONSISTENT = "Findings suggesting pneumonia", "Findings consistent with pneumonia"
_NO_EVIDENCE, _NO_ACUTE = "No evidence of pneumonia", "There is no evidence of acute pneumonia"
PAPER_SWEEP = (
    PromptPair("suggesting_vs_no_evidence_acute", (_SUGGESTING,), (_NO_ACUTE,)),
    PromptPair("suggesting_vs_no_evidence", (_SUGGESTING,), (_NO_EVIDENCE,)),  # the default pair
    PromptPair("consistent_diagnosis_vs_no_evidence_acute", ("Consistent with the diagnosis of pneumonia",),
               (_NO_ACUTE,), reference="suggesting_vs_no_evidence"),
    PromptPair("consistent_vs_no_evidence", (_CONSISTENT,), (_NO_EVIDENCE,)),
    PromptPair("consistent_vs_there_is_no", (_CONSISTENT,), ("There is no pneumonia",),
               reference="consistent_vs_no_evidence"),
)
SWEEPS = {"paper": PAPER_SWEEP}


class PromptSweepError(ValueError):
    """A sweep file that cannot be read or does not describe valid prompt pairs (the message names it)."""


def _prompts(value: object, where: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(p, str) and p.strip() for p in items):
        raise PromptSweepError(f"{where}: expected a non-empty string or list of non-empty strings, got {value!r}")
    return tuple(items)


def check_pairs(pairs: tuple[PromptPair, ...], source: str) -> tuple[PromptPair, ...]:
    names = [p.name for p in pairs]
    if not pairs:
        raise PromptSweepError(f"{source}: a sweep needs at least one pair")
    for p in pairs:
        if not NAME.match(p.name):
            raise PromptSweepError(f"{source}: pair name {p.name!r} must be 1-64 characters of A-Z a-z 0-9 _ . + -")
        if p.reference is not None and (p.reference not in names or p.reference == p.name):
            raise PromptSweepError(f"{source}: pair {p.name!r} names reference {p.reference!r}, which is not another "
                                   f"pair of the sweep ({', '.join(names)})")
    if len(set(names)) != len(names):
        raise PromptSweepError(f"{source}: pair names must be unique, got {names}")
    return pairs


def load_sweep(value: str) -> tuple[PromptPair, ...]:
    """The pairs of a named sweep ("paper") or of a JSON sweep file."""
    if value in SWEEPS:
        return SWEEPS[value]
    path = Path(value).expanduser()
    if not path.is_file():
        raise PromptSweepError(f"prompt_sweep {value!r} is neither a named sweep ({', '.join(SWEEPS)}) nor a file")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PromptSweepError(f"{path}: not a readable JSON file: {exc}") from exc
    if not isinstance(raw, list):
        raise PromptSweepError(f"{path}: expected a JSON list of pairs")
    pairs = []
    for i, entry in enumerate(raw):
        where = f"{path} [{i}]"
        if not isinstance(entry, dict) or set(entry) - {"name", "positive", "negative", "reference"} or \
                not {"name", "positive", "negative"} <= set(entry):
            raise PromptSweepError(f"{where}: expected an object with name, positive, negative (and optionally "
                                   f"reference), got {entry!r}")
        if not isinstance(entry["name"], str) or not (entry.get("reference") is None
                                                      or isinstance(entry["reference"], str)):
            raise PromptSweepError(f"{where}: name and reference must be strings")
        pairs.append(PromptPair(entry["name"], _prompts(entry["positive"], f"{where}.positive"),
                                _prompts(entry["negative"], f"{where}.negative"), entry.get("reference")))
    return check_pairs(tuple(pairs), str(path))
