"""On-disk caches of an evaluation: preprocessed images, image embeddings and text embeddings, keyed by what
they depend on (adapter identity, preprocessing, numerics, content). Off unless asked for
(`msxr-bench evaluate --cache-dir DIR`, or `msxr_bench.evaluate(..., cache_dir=DIR)`).
"""

from msxr_bench.cache.eval_cache import EvalCache, ImageCacheView, TextCacheView, embedding_tensors, stacked_embeddings

__all__ = ["EvalCache", "ImageCacheView", "TextCacheView", "embedding_tensors", "stacked_embeddings"]
