"""RadNLI (`radnli_{dev,test}_v1.jsonl`: pair_id, sentence1, sentence2, gold_label) and MedNLI
(`mli_{train,dev,test}_v1.jsonl`: SNLI-style with pairID and constituency / binary parses)."""

from __future__ import annotations

import re
from pathlib import Path

from msxr_bench.toyworld.ids import UniqueIds
from msxr_bench.toyworld.nli import make_pairs
from msxr_bench.toyworld.plan import stream
from msxr_bench.toyworld.scales import Scale
from msxr_bench.toyworld.writers.common import write_jsonl

TAGS = {"a": "DT", "an": "DT", "the": "DT", "no": "DT", "there": "EX", "is": "VBZ", "are": "VBP", "has": "VBZ",
        "does": "VBZ", "not": "RB", "have": "VB", "of": "IN", "in": "IN", "at": "IN", "on": "IN", "for": "IN",
        "with": "IN", "along": "IN", "behind": "IN", "and": "CC", "or": "CC", ".": ".", ",": ","}
ADJECTIVES = {"left", "right", "small", "large", "moderate", "mild", "severe", "bilateral", "focal", "patchy",
              "minimal", "tiny", "trace", "subtle", "faint", "hazy", "dense", "pulmonary", "pleural", "interstitial"}


def tokens(sentence: str) -> list[str]:
    return re.findall(r"[A-Za-z0-9]+(?:[-'][A-Za-z0-9]+)*|[^\sA-Za-z0-9]", sentence)


def _tag(token: str) -> str:
    low = token.lower()
    if low in TAGS:
        return TAGS[low]
    if low in ADJECTIVES or low.endswith("-sided"):
        return "JJ"
    if low.endswith("ed") and low not in {"seed"}:
        return "VBN"
    return "NNS" if low.endswith("s") and not low.endswith(("is", "ss", "us")) else "NN"


def parse(sentence: str) -> str:
    """A flat Penn-style constituency string: (ROOT (S (TAG word) ...))."""
    inner = " ".join(f"({_tag(t)} {t})" for t in tokens(sentence))
    return f"(ROOT (S {inner}))"


def binary_parse(sentence: str) -> str:
    """A right-branching binary bracketing in SNLI's style: ( w1 ( w2 ( w3 w4 ) ) )."""
    toks = tokens(sentence)
    if len(toks) == 1:
        return toks[0]
    out = f"( {toks[-2]} {toks[-1]} )"
    for t in reversed(toks[:-2]):
        out = f"( {t} {out} )"
    return out


def write_nli(out: Path, seed: int, scale: Scale) -> dict:
    """Both datasets; returns counts per file."""
    counts = {}
    for name in ("dev", "test"):
        triples = make_pairs(stream(seed, f"radnli-{name}"), scale.radnli_pairs)
        records = [{"pair_id": str(i), "sentence1": p, "sentence2": h, "gold_label": label}
                   for i, (p, h, label) in enumerate(triples)]
        write_jsonl(records, out / "radnli" / f"radnli_{name}_v1.jsonl")
        counts[f"radnli_{name}"] = len(records)
    ids = UniqueIds(stream(seed, "mednli-ids"))
    for name, n in zip(("train", "dev", "test"), scale.mednli_pairs):
        triples = make_pairs(stream(seed, f"mednli-{name}"), n, clinical=True)
        records = [{"sentence1": p, "pairID": ids.mednli_pair_id(), "sentence1_parse": parse(p),
                    "sentence1_binary_parse": binary_parse(p), "sentence2": h, "sentence2_parse": parse(h),
                    "sentence2_binary_parse": binary_parse(h), "gold_label": label}
                   for p, h, label in triples]
        write_jsonl(records, out / "mednli" / f"mli_{name}_v1.jsonl")
        counts[f"mednli_{name}"] = len(records)
    return counts
