"""The evaluation engine: device/precision handling, streamed batched image embeddings, text-embedding memo.

Task logic (what to score) lives in `msxr_bench.tasks`; metric definitions in `msxr_bench.metrics`.
"""

from msxr_bench.engine.images import (
    ImageBatch, ImageEmbeddingProvider, ImageFailure, ImageItem, ModelImageEmbeddings, shard,
)
from msxr_bench.engine.runtime import Runtime, RuntimeConfigError, prepare_adapter, resolve_runtime
from msxr_bench.engine.texts import PhraseTooLongError, TextEmbeddingMemo, TextLengthPolicy

__all__ = [
    "ImageBatch", "ImageEmbeddingProvider", "ImageFailure", "ImageItem", "ModelImageEmbeddings", "shard",
    "Runtime", "RuntimeConfigError", "prepare_adapter", "resolve_runtime",
    "PhraseTooLongError", "TextEmbeddingMemo", "TextLengthPolicy",
]
