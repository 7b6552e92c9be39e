"""Text embeddings computed once per unique text, with an explicit policy for texts that are too long.

A text longer than the adapter's `max_text_tokens` is an error naming it, or (when asked) truncated at a
word boundary and recorded; it is never cut silently by a tokenizer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Sequence

import torch

from msxr_bench.adapters.base import EncoderAdapter
from msxr_bench.engine import profile
from msxr_bench.engine.runtime import Runtime

if TYPE_CHECKING:
    from msxr_bench.cache import EvalCache


class PhraseTooLongError(ValueError):
    """A text exceeds the text encoder's token limit and truncation was not allowed."""


def token_counter(adapter: EncoderAdapter) -> Callable[[str], int] | None:
    """How to count an adapter's tokens: its `count_text_tokens`, else its (HF) `tokenizer`, else None."""
    count = getattr(adapter, "count_text_tokens", None)
    if callable(count):
        return lambda text: int(count([text])[0])
    tokenizer = getattr(adapter, "tokenizer", None)
    if tokenizer is not None and callable(tokenizer):
        return lambda text: len(tokenizer(text, add_special_tokens=True)["input_ids"])
    return None


@dataclass
class TextLengthPolicy:
    max_tokens: int | None
    count: Callable[[str], int] | None
    truncate: bool = False
    truncations: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def for_adapter(cls, adapter: EncoderAdapter, truncate: bool = False) -> "TextLengthPolicy":
        limit = getattr(adapter, "max_text_tokens", None)
        count = token_counter(adapter)
        if limit is not None and count is None:
            raise ValueError(
                f"adapter {adapter.meta.name!r} declares max_text_tokens={limit} but offers no way to count "
                "tokens (define count_text_tokens(texts) -> list[int] or a `tokenizer` attribute)"
            )
        return cls(limit, count, truncate)

    def apply(self, text: str) -> str:
        """The text to encode: unchanged, truncated (recorded), or a PhraseTooLongError."""
        if self.max_tokens is None or self.count is None:
            return text
        n = self.count(text)
        if n <= self.max_tokens:
            return text
        if not self.truncate:
            raise PhraseTooLongError(
                f"text of {n} tokens exceeds the text encoder's limit of {self.max_tokens}: {text!r}. "
                "Pass --truncate-long-phrases to cut it at a word boundary (recorded in the results)."
            )
        words = text.split()
        lo, hi = 0, len(words)  # largest prefix of words that fits: binary search
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.count(" ".join(words[:mid])) <= self.max_tokens:
                lo = mid
            else:
                hi = mid - 1
        if lo == 0:
            raise PhraseTooLongError(f"even the first word of this text exceeds {self.max_tokens} tokens: {text!r}")
        kept = " ".join(words[:lo])
        self.truncations[text] = {"n_tokens": n, "limit": self.max_tokens, "words": len(words), "kept_words": lo}
        return kept

    def record(self, keep_text: bool = False) -> list[dict]:
        """One entry per truncated text (token count, limit, words kept); the texts themselves only with
        `keep_text` (they are dataset text: results written for sharing never hold them)."""
        return [{**self.truncations[t], **({"text": t} if keep_text else {})} for t in sorted(self.truncations)]


class TextEmbeddingMemo:
    """Embeds each unique text once (in batches of similar length) and keeps the float32 embeddings on the
    run's device; with `cache`, embeddings stored by an earlier run of the same adapter are read instead.
    """

    def __init__(self, adapter: EncoderAdapter, runtime: Runtime, policy: TextLengthPolicy, batch_size: int = 64,
                 cache: "EvalCache | None" = None):
        self.adapter, self.runtime, self.policy, self.batch_size = adapter, runtime, policy, batch_size
        self._memo: dict[str, torch.Tensor] = {}
        self._prompt_memo: dict[tuple[str, ...], torch.Tensor] = {}
        self.store = cache.texts(adapter, runtime.device, runtime.precision) if cache is not None else None
        self.stats = {"text hits": 0, "texts encoded": 0}

    def _encode(self, texts: list[str]) -> torch.Tensor:
        """[N, D] float32 on the run's device: stored embeddings where the cache has them, else the adapter's."""
        found = [self.store.get(t) if self.store is not None else None for t in texts]
        todo = [i for i, e in enumerate(found) if e is None]
        self.stats["text hits"] += len(texts) - len(todo)
        self.stats["texts encoded"] += len(todo)
        if len(texts) > len(todo):
            profile.tally("text hits", len(texts) - len(todo))
        if todo:
            profile.tally("texts encoded", len(todo))
        if todo:
            with profile.stage("texts"), self.runtime.inference():
                out = self.adapter.encode_texts([texts[i] for i in todo], normalize=True).float()
            for k, i in enumerate(todo):
                found[i] = out[k]
                if self.store is not None:
                    self.store.put(texts[i], out[k])
        return torch.stack([e.to(self.runtime.device, non_blocking=True) for e in found])

    def embed(self, texts: Sequence[str]) -> torch.Tensor:
        """[N, D] embeddings of `texts` (in order); each unique text is encoded at most once per run."""
        missing = sorted({t for t in texts if t not in self._memo}, key=lambda t: (len(t), t))  # less padding
        if missing:
            to_encode = [self.policy.apply(t) for t in missing]  # raise before any encoding
            for start in range(0, len(missing), self.batch_size):
                emb = self._encode(to_encode[start:start + self.batch_size])
                for t, e in zip(missing[start:start + self.batch_size], emb):
                    self._memo[t] = e
        if not texts:
            return torch.empty(0, 0, device=self.runtime.device)
        return torch.stack([self._memo[t] for t in texts])

    def embed_prompt_list(self, prompts: Sequence[str]) -> torch.Tensor:
        """One [D] embedding for a prompt list (adapter.embed_prompt_list: mean of raw projections, then L2)."""
        key = tuple(prompts)
        if key not in self._prompt_memo:
            applied = [self.policy.apply(p) for p in prompts]
            name = "\0prompt list\0" + json.dumps(applied)  # cannot collide with a single text
            emb = self.store.get(name) if self.store is not None else None
            if emb is None:
                with profile.stage("texts"), self.runtime.inference():
                    emb = self.adapter.embed_prompt_list(applied).float()
                if self.store is not None:
                    self.store.put(name, emb)
            self._prompt_memo[key] = emb.to(self.runtime.device)
        return self._prompt_memo[key]
