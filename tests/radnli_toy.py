"""A small template NLI world, a tiny BERT and an adapter exposing it, for the RadNLI tests.

Facts: a premise states one finding (side, severity) and denies another. Entailment restates a fact
(possibly weaker), contradiction negates the present finding, swaps its side or asserts the denied one,
neutral talks about a finding the premise does not mention.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import torch
from transformers import BertConfig, BertForMaskedLM, BertModel, BertTokenizer

from msxr_bench.adapters.base import TEXT_ENCODER, AdapterMeta, EncoderAdapter
from msxr_bench.data.types import NLIPair

FINDINGS = ("effusion", "pneumothorax", "consolidation", "atelectasis", "edema", "nodule", "opacity")
SIDES = ("left", "right")
SEVERITIES = ("small", "moderate", "large")
SPECIAL = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
WORDS = ("there", "is", "a", "no", "present", ".", "seen", "evidence", "of") + FINDINGS + SIDES + SEVERITIES


def _pair(rng: random.Random, label: str) -> tuple[str, str]:
    present, other = rng.sample(FINDINGS, 2)
    side, sev = rng.choice(SIDES), rng.choice(SEVERITIES)
    flip = SIDES[1 - SIDES.index(side)]
    premise = rng.choice([f"there is a {sev} {side} {present} .", f"{sev} {side} {present} ."])
    options = {
        "entailment": [f"{side} {present}", f"{present} is present", f"{sev} {present} ."],
        "contradiction": [f"no {present}", f"{flip} {present}", f"no {side} {present} ."],
        "neutral": [f"{other} is present", f"{side} {other}", f"there is a {sev} {other} ."],
    }
    return premise, rng.choice(options[label])


def toy_pairs(n: int, seed: int, labels: tuple[str, ...] = ("entailment", "neutral", "contradiction"),
              weights: tuple[float, ...] = (0.4, 0.3, 0.3)) -> list[NLIPair]:
    """`n` pairs with labels drawn with `weights` (so the majority class is known)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        label = rng.choices(labels, weights=weights)[0]
        premise, hypothesis = _pair(rng, label)
        out.append(NLIPair(pair_id=f"{seed}-{i}", premise=premise, hypothesis=hypothesis, label=label))
    return out


def write_jsonl(path: Path, pairs: list[NLIPair], id_key: str) -> Path:
    """Write pairs in the official JSONL layout (RadNLI: id_key='pair_id'; MedNLI: 'pairID')."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        for p in pairs:
            row = {id_key: p.pair_id, "sentence1": p.premise, "sentence2": p.hypothesis, "gold_label": p.label}
            f.write(json.dumps(row) + "\n")
    return path


def tiny_tokenizer(tmp: Path, vocab: Path | None = None) -> BertTokenizer:
    """A BertTokenizer on the toy words (or on the vocab file given) with the five special tokens."""
    if vocab is None:
        vocab = tmp / "vocab.txt"
        vocab.write_text("\n".join(SPECIAL + WORDS) + "\n")
    return BertTokenizer(str(vocab), do_lower_case=True)


def tiny_config(tokenizer: BertTokenizer) -> BertConfig:
    return BertConfig(vocab_size=len(tokenizer), hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                      intermediate_size=128, max_position_embeddings=128, hidden_dropout_prob=0.1,
                      attention_probs_dropout_prob=0.1)


class ToyTextAdapter(EncoderAdapter):
    """An adapter that only exposes a text encoder (a BertForMaskedLM, like CXR-BERT, or a BertModel): no image
    side, no geometry."""

    capabilities = frozenset({TEXT_ENCODER})

    def __init__(self, tmp: Path, masked_lm: bool = True, seed: int = 0, vocab: Path | None = None) -> None:
        super().__init__()
        self.tokenizer = tiny_tokenizer(tmp, vocab)
        torch.manual_seed(seed)
        cls = BertForMaskedLM if masked_lm else BertModel
        self.text_model = cls(tiny_config(self.tokenizer)).eval().requires_grad_(False)
        self.meta = AdapterMeta(name="toy-text", version="0", description="tiny random BERT",
                                weights_source="random")

    def text_encoder_for_finetuning(self):
        return self.text_model, self.tokenizer


class CorpusTextAdapter(ToyTextAdapter):
    """ToyTextAdapter whose vocabulary is every word (BERT basic tokenisation, lower case) of NLI JSONL files."""

    def __init__(self, tmp: Path, files: list[Path], seed: int = 0) -> None:
        from transformers.models.bert.tokenization_bert import BasicTokenizer

        basic = BasicTokenizer(do_lower_case=True)
        words = set()
        for path in files:
            for line in path.read_text().splitlines():
                row = json.loads(line)
                words.update(basic.tokenize(row["sentence1"]) + basic.tokenize(row["sentence2"]))
        vocab = tmp / "corpus_vocab.txt"
        vocab.write_text("\n".join(SPECIAL + tuple(sorted(words))) + "\n")
        super().__init__(tmp, masked_lm=True, seed=seed, vocab=vocab)
