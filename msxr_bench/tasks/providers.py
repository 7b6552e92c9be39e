"""The image-embedding provider and text memo of a task run, built from its context (cache included)."""

from __future__ import annotations

from msxr_bench.adapters.base import EncoderAdapter
from msxr_bench.engine import ImageEmbeddingProvider, ModelImageEmbeddings, TextEmbeddingMemo, TextLengthPolicy
from msxr_bench.tasks.spec import EvalContext


def image_provider(ctx: EvalContext, adapter: EncoderAdapter) -> ImageEmbeddingProvider:
    """`ctx.image_provider` if given, else DataLoader decoding + batched forward (with `ctx.cache`, if any)."""
    if ctx.image_provider is not None:
        return ctx.image_provider
    return ModelImageEmbeddings(adapter, ctx.runtime, ctx.batch_size, ctx.num_workers,
                                progress="images" if ctx.progress else None, cache=ctx.cache)


def text_memo(ctx: EvalContext, adapter: EncoderAdapter, policy: TextLengthPolicy,
              batch_size: int = 64) -> TextEmbeddingMemo:
    return TextEmbeddingMemo(adapter, ctx.runtime, policy, batch_size=batch_size, cache=ctx.cache)
