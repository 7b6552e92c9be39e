"""Encoder adapters: the contract (`base`), the registry (`registry`) and the built-in models."""

from msxr_bench.adapters.base import AdapterMeta, EncoderAdapter, Geometry, ImageEmbeddings

__all__ = ["AdapterMeta", "EncoderAdapter", "Geometry", "ImageEmbeddings"]
