"""Report text for training: sentences of a report section, the per-recipe caption sampling (whole impression
with sentence shuffling for BioViL, one random sentence for GLoRIA and ConVIRT) and whole-word masking for MLM.

Every random choice takes an explicit `numpy.random.Generator`, so a caption is a function of (seed, epoch,
sample) and a resumed or distributed run draws exactly what an uninterrupted one would.
"""

from __future__ import annotations

import re
from typing import Literal, Sequence

import numpy as np
import torch

CaptionMode = Literal["shuffled_section", "one_sentence", "sentence_subset"]
_ENUMERATOR = re.compile(r"(?:^|\s)\d{1,2}[.)]\s+")  # "1. ", "2) " list markers of MIMIC impressions
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_WORD = re.compile(r"[^\W_]")  # a letter or digit ("___" de-identification marks do not count)


def split_sentences(text: str) -> list[str]:
    """Sentences of a report section: list markers removed, split after . ! ?, whitespace collapsed,
    sentences without a letter or digit dropped."""
    text = " ".join(text.split())
    sentences = []
    for part in _ENUMERATOR.split(" " + text):
        for sentence in _SENTENCE_END.split(part.strip()):
            sentence = sentence.strip()
            if _WORD.search(sentence):
                sentences.append(sentence)
    return sentences


def section_text(sections: dict[str, str], names: Sequence[str]) -> str:
    """The first non-empty section among `names` (e.g. ("impression", "findings")), or ''."""
    for name in names:
        text = sections.get(name, "")
        if text and text.strip():
            return text
    return ""


def pooled_sentences(sections: dict[str, str], names: Sequence[str], pool: bool) -> list[str]:
    """Sentences of the first non-empty section of `names`, or (`pool=True`) of all of them, in order."""
    if not pool:
        return split_sentences(section_text(sections, names))
    return [s for name in names for s in split_sentences(sections.get(name, "") or "")]


def sample_caption(sentences: list[str], mode: CaptionMode, rng: np.random.Generator,
                   shuffle_probability: float = 0.5) -> str:
    """A training caption from a report's sentences.

    shuffled_section: all sentences, their order shuffled with `shuffle_probability` (BioViL/CXR-BERT);
    one_sentence: one sentence drawn uniformly (GLoRIA, ConVIRT);
    sentence_subset: a uniformly sized random subset (1..n sentences) in shuffled order.
    """
    if not sentences:
        raise ValueError("a report without sentences cannot make a caption (the loader should have skipped it)")
    if mode == "one_sentence":
        return sentences[int(rng.integers(len(sentences)))]
    if mode == "shuffled_section":
        order = rng.permutation(len(sentences)) if rng.random() < shuffle_probability else range(len(sentences))
        return " ".join(sentences[i] for i in order)
    if mode == "sentence_subset":
        k = int(rng.integers(1, len(sentences) + 1))
        return " ".join(sentences[i] for i in rng.permutation(len(sentences))[:k])
    raise ValueError(f"unknown caption mode {mode!r}")


def whole_word_mask(input_ids: torch.Tensor, word_ids: Sequence[Sequence[int | None]], rng: np.random.Generator,
                    mask_token_id: int, vocab_size: int, probability: float = 0.15,
                    special_ids: Sequence[int] = ()) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT masking at word level: each word (all its word pieces) is chosen with `probability`; chosen
    pieces become [MASK] 80%, a random token 10%, unchanged 10%. Returns (masked ids, labels with -100 on
    positions that are not predicted). At least one word per text is chosen (when it has one).

    `word_ids[i][t]` is the word index of token t of text i (None for special and padding tokens), as
    `tokenizers` gives it; with a word-level vocabulary this is plain token masking.
    """
    masked, labels = input_ids.clone(), torch.full_like(input_ids, -100)
    special = set(int(s) for s in special_ids)
    for i, row in enumerate(word_ids):
        words = sorted({w for t, w in enumerate(row) if w is not None and int(input_ids[i, t]) not in special})
        if not words:
            continue
        chosen = [w for w in words if rng.random() < probability]
        if not chosen:
            chosen = [words[int(rng.integers(len(words)))]]
        chosen_set = set(chosen)
        for t, w in enumerate(row):
            if w is None or w not in chosen_set or int(input_ids[i, t]) in special:
                continue
            labels[i, t] = input_ids[i, t]
            u = rng.random()
            if u < 0.8:
                masked[i, t] = mask_token_id
            elif u < 0.9:
                masked[i, t] = int(rng.integers(vocab_size))
    return masked, labels
