"""A small WordPiece vocabulary built from a training corpus, for the tiny BERTs of the `tiny` configs.

Words are found exactly as `BertTokenizer` pre-tokenises (lower-casing, accent stripping, punctuation split);
every word seen at least `min_count` times becomes one token, and every character seen becomes both a
word-initial token and a `##` continuation, so an unseen word still tokenises (as characters, never as a
bare [UNK]). The order is canonical (special tokens, then words by falling count and alphabetically, then
characters), so the same corpus always gives the same `vocab.txt`. The result is a `BertTokenizerFast`.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Iterable

from transformers import BertTokenizerFast
from transformers.models.bert.tokenization_bert import BasicTokenizer

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def word_counts(texts: Iterable[str]) -> Counter:
    """Counts of BERT-pre-tokenised (lower-cased) words over `texts`."""
    basic = BasicTokenizer(do_lower_case=True, strip_accents=None, tokenize_chinese_chars=True)
    counts: Counter = Counter()
    for text in texts:
        counts.update(basic.tokenize(text))
    return counts


def build_vocab(texts: Iterable[str], min_count: int = 2, max_words: int | None = None) -> list[str]:
    """The vocabulary (token list, id = position) of `texts`; see the module docstring."""
    if min_count < 1:
        raise ValueError(f"min_count must be >= 1, got {min_count}")
    counts = word_counts(texts)
    if not counts:
        raise ValueError("cannot build a vocabulary from an empty corpus")
    words = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
    if max_words is not None:
        words = words[:max_words]
    chars = sorted({ch for w in counts for ch in w})
    vocab = list(SPECIAL_TOKENS)
    seen = set(vocab)
    for token in [*words, *chars, *(f"##{ch}" for ch in chars)]:
        if token not in seen:
            vocab.append(token)
            seen.add(token)
    return vocab


def write_tokenizer(vocab: list[str], directory: str | Path, model_max_length: int = 512) -> BertTokenizerFast:
    """Save `vocab` as a lower-casing BERT WordPiece tokenizer in `directory` and return it loaded."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    vocab_file = directory / "vocab.txt"
    vocab_file.write_text("".join(f"{token}\n" for token in vocab), encoding="utf-8")
    tokenizer = BertTokenizerFast(vocab_file=str(vocab_file), do_lower_case=True, model_max_length=model_max_length)
    tokenizer.save_pretrained(str(directory))
    return tokenizer


def load_tokenizer(directory: str | Path) -> BertTokenizerFast:
    return BertTokenizerFast.from_pretrained(str(directory))
