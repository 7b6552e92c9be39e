"""The features a probe trains on, computed once per split through the run's engine (streamed decoding, batched
forward, the eval cache keyed by the adapter's identity): the projected, L2-normalised pooled embedding
(`encode_images(...).global_`) or the pre-projection features (`encode_image_features`, served through
`PreProjectionView` so that the same engine and cache apply, under a key of their own).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Sequence

import torch

from msxr_bench.adapters.base import FEATURES, GLOBAL, PATCHES, EncoderAdapter, ImageEmbeddings
from msxr_bench.data.types import RsnaSample
from msxr_bench.engine import ImageItem, shard
from msxr_bench.tasks.context import RunContext
from msxr_bench.tasks.spec import TaskSkipped

FEATURE_KINDS = {
    "projected": "the adapter's projected, L2-normalised pooled image embedding (encode_images(...).global_): the "
                 "embedding zero-shot classification compares with the prompts",
    "pre-projection": "the image encoder's pooled features before the joint-space projection "
                      "(encode_image_features(...).global_)",
}


class PreProjectionView(EncoderAdapter):
    """An adapter whose `encode_images` returns another adapter's pre-projection features (unnormalised), so the
    engine streams, batches and caches them; its identity (and cache key) differs from the adapter's own."""

    capabilities = frozenset({GLOBAL, PATCHES})

    def __init__(self, inner: EncoderAdapter) -> None:
        super().__init__()
        if FEATURES not in inner.capabilities:
            raise TaskSkipped(f"{inner.meta.name} lacks features (encode_image_features): the classic probe needs "
                              "the encoder's pre-projection features")
        self.inner = inner
        self.meta = inner.meta
        self.geometry = inner.geometry

    def encode_images(self, images: torch.Tensor) -> ImageEmbeddings:
        return self.inner.encode_image_features(images)

    def identity(self) -> str:
        return hashlib.sha256(f"{self.inner.identity()}|pre-projection features".encode()).hexdigest()[:16]


def require(adapter: EncoderAdapter, needed: Sequence[str], why: str) -> None:
    """TaskSkipped naming the missing capabilities (the probes' gate depends on the probe kind)."""
    missing = [c for c in needed if c not in adapter.capabilities]
    if missing:
        raise TaskSkipped(f"{adapter.meta.name} lacks {', '.join(missing)} ({why} needs {', '.join(needed)})")


@dataclass
class SplitFeatures:
    """Features of the images of one split that decoded, in the split's order."""

    samples: list[RsnaSample]
    x: torch.Tensor  # [N, D] float32, CPU
    failures: list  # engine ImageFailure of the images that did not decode

    @property
    def labels(self) -> torch.Tensor:
        return torch.tensor([s.label for s in self.samples], dtype=torch.long)

    @property
    def ids(self) -> list[str]:
        return [s.patient_id for s in self.samples]


def pooled_features(run: RunContext, adapter: EncoderAdapter, samples: Sequence[RsnaSample]) -> SplitFeatures:
    """One pass of `adapter` over the images of `samples` (this rank's shard, gathered), global_ kept per image."""
    items = shard([ImageItem(s.patient_id, s.image_path) for s in samples], run.rank, run.world_size)
    found: dict[str, torch.Tensor] = {}
    failures = []
    for batch in run.image_provider_for(adapter).batches(items):
        failures.extend(batch.failures)
        if batch.embeddings is not None:
            vectors = batch.embeddings.global_.float().cpu()
            for item, vector in zip(batch.items, vectors):
                found[item.key] = vector.clone()
    found, failures = run.gather_results(found, failures)
    kept = [s for s in samples if s.patient_id in found]
    if not kept:
        raise ValueError("no image of the split could be embedded (see the skips)")
    return SplitFeatures(kept, torch.stack([found[s.patient_id] for s in kept]), failures)
