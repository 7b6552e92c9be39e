"""GLoRIA's text side (marshuang80/gloria @ 416466a, `BertEncoder` and `GLoRIA.process_text`): report
cleaning, 97-token WordPiece input, sub-word merging into word slots, last-4-layer sums.

The BERT itself is transformers' `BertModel` (Bio_ClinicalBERT architecture); no projection, no norm.
"""

from __future__ import annotations

import re
from typing import Literal, Sequence

import torch
from torch import nn

SPECIAL_WORDS = ("[CLS]", "[SEP]", "[PAD]")
_NUMBERED_POINT = re.compile(r"[0-9]+\.")
_WORD = re.compile(r"\w+")  # nltk RegexpTokenizer(r"\w+") is re.findall with this pattern


def clean_report_text(text: str, min_sentence_tokens: int = 2) -> str:
    """Upstream `process_text` cleaning: split at `<digits>.` and `.`, lower-case `\\w+` tokens kept
    ASCII-only, sentences with fewer than `min_sentence_tokens` tokens dropped (upstream: 2, so a one-word
    sentence vanishes), the rest joined by spaces."""
    sentences = [s for point in _NUMBERED_POINT.split(text.replace("\n", " ")) for s in point.split(".")]
    kept = []
    for sentence in sentences:
        tokens = _WORD.findall(sentence.replace("\ufffd\ufffd", " ").lower())
        if len(tokens) < min_sentence_tokens:
            continue
        ascii_tokens = [a for a in (tok.encode("ascii", "ignore").decode("ascii") for tok in tokens) if a]
        kept.append(" ".join(ascii_tokens))
    return " ".join(kept)


def released_cap_len(text: str) -> int:
    """Upstream zero-shot `cap_lens`: characters of the raw prompt that are not '[' (a bug: not words)."""
    return sum(1 for ch in text if ch != "[")


def word_count(words: Sequence[str]) -> int:
    """Real words of a merged caption: the slots strictly between `[CLS]` and `[SEP]` (an `[UNK]` counts)."""
    return sum(1 for w in words if w not in SPECIAL_WORDS)


def merge_word_pieces(tokens: Sequence[str]) -> tuple[list[int], list[str]]:
    """Upstream `aggregate_tokens` walk: (slot of each token position, -1 = ignored; merged words).

    A token not starting with `##` opens a word (`[CLS]`, `[UNK]` included), a `##` piece joins the open
    word, `[SEP]` closes it, takes a slot of its own and ends the walk. As upstream, a word still open
    when the tokens run out without `[SEP]` is dropped (a tokenizer with truncation always ends on `[SEP]`).
    """
    slots = [-1] * len(tokens)
    words: list[str] = []
    open_positions: list[int] = []
    for pos, tok in enumerate(tokens):
        if tok == "[SEP]":
            words.append(tok)
            slots[pos] = len(words) - 1
            return slots, words
        if tok.startswith("##") and (open_positions or not words):
            if not open_positions:  # a leading piece opens a word, as upstream's empty bank does
                words.append("")
            words[-1] += tok[2:]
        else:
            words.append(tok)
            open_positions = []
        open_positions.append(pos)
        slots[pos] = len(words) - 1
    for pos in open_positions:  # upstream never flushes the last word without [SEP]
        slots[pos] = -1
    if open_positions:
        words.pop()
    return slots, words


def aggregate_tokens(hidden: torch.Tensor, tokens: Sequence[Sequence[str]]) -> tuple[torch.Tensor, list[list[str]]]:
    """Sum word pieces into word slots: hidden [B, layers, L, D] -> ([B, layers, L, D] with zero slots after
    the last word, merged words padded with `[PAD]` to L)."""
    batch, _, length, _ = hidden.shape
    slot_rows, sents = [], []
    for seq in tokens:
        slots, words = merge_word_pieces(list(seq))
        if len(slots) != length:
            raise ValueError(f"{len(slots)} tokens for {length} hidden-state positions")
        slot_rows.append([s if s >= 0 else length for s in slots])  # ignored positions -> a spill slot
        sents.append(words + ["[PAD]"] * (length - len(words)))
    index = torch.tensor(slot_rows, device=hidden.device)  # [B, L]
    out = hidden.new_zeros(batch, hidden.shape[1], length + 1, hidden.shape[3])
    out.scatter_add_(2, index[:, None, :, None].expand_as(hidden), hidden)
    return out[:, :, :length], sents


def embeddings_from_hidden(
    hidden: torch.Tensor,
    tokens: Sequence[Sequence[str]],
    aggregate_method: Literal["sum", "mean"] = "sum",
    norm: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, list[list[str]]]:
    """Upstream `BertEncoder.forward` after BERT: hidden [B, layers, L, D] of the last layers ->
    (word embeddings [B, D, L], sentence embeddings [B, D] = layer-aggregate of the mean over all L slots,
    zero slots included, merged words)."""
    merged, sents = aggregate_tokens(hidden, tokens)
    sent = merged.mean(dim=2)
    if aggregate_method == "sum":
        words, sent = merged.sum(dim=1), sent.sum(dim=1)
    elif aggregate_method == "mean":
        words, sent = merged.mean(dim=1), sent.mean(dim=1)
    else:
        raise ValueError(f"aggregate_method must be 'sum' or 'mean', got {aggregate_method!r}")
    words = words.permute(0, 2, 1)
    if norm:  # upstream `text.norm: true` (not used by the released model)
        words = words / torch.linalg.vector_norm(words, dim=1, keepdim=True)
        sent = sent / torch.linalg.vector_norm(sent, dim=1, keepdim=True)
    return words, sent, sents


class GloriaTextEncoder(nn.Module):
    """BERT + GLoRIA's word/sentence read-out. Module names match upstream (`model` = the BertModel)."""

    def __init__(self, bert: nn.Module, tokenizer, word_num: int = 97, last_n_layers: int = 4,
                 aggregate_method: Literal["sum", "mean"] = "sum", norm: bool = False):
        super().__init__()
        if last_n_layers < 2:
            raise ValueError("GLoRIA's text read-out needs last_n_layers >= 2 (the released config uses 4)")
        self.model = bert
        self.tokenizer = tokenizer
        self.word_num, self.last_n_layers = word_num, last_n_layers
        self.aggregate_method, self.norm = aggregate_method, norm

    def tokenize(self, texts: Sequence[str], min_sentence_tokens: int = 2) -> dict[str, torch.Tensor]:
        """Cleaned texts -> input_ids / attention_mask / token_type_ids [N, word_num] (padded, truncated)."""
        cleaned = [clean_report_text(t, min_sentence_tokens) for t in texts]
        return dict(self.tokenizer(cleaned, truncation=True, padding="max_length", max_length=self.word_num,
                                   return_tensors="pt", return_token_type_ids=True))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, list[list[str]]]:
        """(word embeddings [N, D, L], sentence embeddings [N, D], merged words per text)."""
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                         output_hidden_states=True)
        hidden = torch.stack(out.hidden_states[-self.last_n_layers:], dim=1)  # [N, layers, L, D]
        tokens = [self.tokenizer.convert_ids_to_tokens(row) for row in input_ids.tolist()]
        return embeddings_from_hidden(hidden, tokens, self.aggregate_method, self.norm)
