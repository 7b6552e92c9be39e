"""Streamed image embeddings: unique images decoded + preprocessed by DataLoader workers, encoded in batches.

`ImageEmbeddingProvider` is the seam for caches (wrap a provider, serve hits, pass misses through) and
`shard` the one for multi-process runs (each rank takes its slice of the unique images).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Protocol, Sequence

import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from msxr_bench.adapters.base import EncoderAdapter, Geometry, ImageEmbeddings
from msxr_bench.engine.runtime import Runtime, embeddings_to_float32


@dataclass(frozen=True)
class ImageItem:
    """One unique image of a task: `key` identifies it in the task (dicom_id, patientId), `path` on disk."""

    key: str
    path: Path


@dataclass
class ImageFailure:
    item: ImageItem
    reason: str  # "missing image" | "unreadable image" | "image unusable with the model's geometry"
    detail: str


@dataclass
class ImageBatch:
    """Embeddings (float32, on the run's device) of the images of one batch that decoded, in `items` order."""

    items: list[ImageItem]
    sizes: list[tuple[int, int]]  # (H, W) of each original image
    embeddings: ImageEmbeddings | None
    failures: list[ImageFailure] = field(default_factory=list)


class ImageEmbeddingProvider(Protocol):
    def batches(self, items: Sequence[ImageItem]) -> Iterator[ImageBatch]:
        """Every item appears exactly once, in a batch's `items` or its `failures`, in any order."""
        ...


def shard(items: Sequence[ImageItem], rank: int = 0, world_size: int = 1) -> list[ImageItem]:
    """The slice of the unique images that process `rank` of `world_size` evaluates."""
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} outside world size {world_size}")
    return list(items[rank::world_size])


class ImageDecodeDataset(Dataset):
    """Decodes (data.images.load_image) and preprocesses (data.geometry.preprocess) one image per item;
    a missing or unreadable file becomes a failure record instead of an exception."""

    def __init__(self, items: Sequence[ImageItem], geometry: Geometry):
        self.items, self.geometry = list(items), geometry

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        from msxr_bench.data.geometry import preprocess
        from msxr_bench.data.images import ImageDecodeError, load_image

        item = self.items[index]
        try:
            image = load_image(item.path)
        except (ImageDecodeError, OSError) as exc:
            reason = "missing image" if not Path(item.path).is_file() else "unreadable image"
            return {"index": index, "pixels": None, "size": None, "failure": (reason, str(exc))}
        try:
            pixels = preprocess(image, self.geometry)
        except ValueError as exc:  # e.g. too thin to letterbox: this image only, the run goes on
            return {"index": index, "pixels": None, "size": None, "failure": ("image unusable with the model's "
                                                                               "geometry", f"{item.path}: {exc}")}
        return {"index": index, "pixels": pixels, "size": tuple(image.shape[:2]), "failure": None}


def _collate(records: list[dict]) -> dict:
    ok = [r for r in records if r["failure"] is None]
    return {
        "indices": [r["index"] for r in ok],
        "pixels": torch.stack([r["pixels"] for r in ok]) if ok else None,
        "sizes": [r["size"] for r in ok],
        "failures": [(r["index"],) + r["failure"] for r in records if r["failure"] is not None],
    }


def _single_thread_worker(_: int) -> None:
    torch.set_num_threads(1)  # workers decode; intra-op threads would only oversubscribe the cores


class ModelImageEmbeddings:
    """The plain provider: decode in `num_workers` workers, one forward per batch of `batch_size` images."""

    def __init__(self, adapter: EncoderAdapter, runtime: Runtime, batch_size: int = 16, num_workers: int = 0,
                 progress: str | None = "images"):
        if batch_size < 1 or num_workers < 0:
            raise ValueError(f"batch_size must be >= 1 and num_workers >= 0, got {batch_size}, {num_workers}")
        self.adapter, self.runtime = adapter, runtime
        self.batch_size, self.num_workers, self.progress = batch_size, num_workers, progress

    def batches(self, items: Sequence[ImageItem]) -> Iterator[ImageBatch]:
        items = list(items)
        if not items:
            return
        loader = DataLoader(
            ImageDecodeDataset(items, self.adapter.geometry),
            batch_size=self.batch_size,
            shuffle=False,
            num_workers=self.num_workers,
            collate_fn=_collate,
            pin_memory=self.runtime.device.type == "cuda",
            worker_init_fn=_single_thread_worker if self.num_workers else None,
            prefetch_factor=2 if self.num_workers else None,
        )
        bar = tqdm(total=len(items), desc=self.progress, unit="img", disable=None if self.progress else True)
        for batch in loader:
            failures = [ImageFailure(items[i], reason, detail) for i, reason, detail in batch["failures"]]
            embeddings = None
            if batch["pixels"] is not None:
                pixels = batch["pixels"].to(self.runtime.device, non_blocking=True)
                with self.runtime.inference():
                    embeddings = embeddings_to_float32(self.adapter.encode_images(pixels))
            bar.update(len(batch["indices"]) + len(failures))
            yield ImageBatch([items[i] for i in batch["indices"]], batch["sizes"], embeddings, failures)
        bar.close()
