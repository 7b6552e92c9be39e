"""Streamed embeddings of image pairs (a current study with its prior) for adapters with the `image_pairs` capability.

Each pair's two images are decoded and cropped with the adapter's geometry (`engine.images.ImageDecodeDataset`, in
DataLoader workers); pairs are encoded in batches with one `adapter.encode_image_pairs(current, previous)` call,
pairs without a prior in batches of their own (`previous=None`, the model's absent-prior path). A pair whose current
or prior image is missing or unreadable is a failure of that pair only. Single images stay with
`engine.images.ModelImageEmbeddings`; nothing is cached here.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from msxr_bench.adapters.base import EncoderAdapter, ImageEmbeddings
from msxr_bench.engine import profile
from msxr_bench.engine.images import ImageDecodeDataset, ImageFailure, ImageItem
from msxr_bench.engine.pixels import to_model_input
from msxr_bench.engine.runtime import Runtime, embeddings_to_float32


@dataclass(frozen=True)
class ImagePairItem:
    """One pair of a task: `key` identifies it (the current image's id), `previous` None = no prior study."""

    key: str
    current: Path
    previous: Path | None


@dataclass
class ImagePairBatch:
    """Embeddings (float32, on the run's device) of the pairs of one batch, in `items` order."""

    items: list[ImagePairItem]
    with_prior: bool
    embeddings: ImageEmbeddings | None
    failures: list[ImageFailure] = field(default_factory=list)


class PairDecodeDataset(Dataset):
    """One record per pair: the uint8 crops of its current and prior image, or the failure of one of them."""

    def __init__(self, items: Sequence[ImagePairItem], geometry,
                 decode_options: Mapping[str, Any] | None = None) -> None:
        self.items = list(items)
        self.current = ImageDecodeDataset([ImageItem(i.key, i.current) for i in self.items], geometry,
                                          decode_options=decode_options)
        self.previous = ImageDecodeDataset([ImageItem(i.key, i.previous or i.current) for i in self.items], geometry,
                                           decode_options=decode_options)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        item = self.items[index]
        rec = {"index": index, "crop": None, "prior_crop": None, "failure": None}
        current = self.current[index]
        if current["failure"] is not None:
            rec["failure"] = (ImageItem(item.key, item.current), *current["failure"])
            return rec
        rec["crop"] = current["crop"]
        if item.previous is not None:
            prior = self.previous[index]
            if prior["failure"] is not None:
                reason, detail = prior["failure"]
                rec["failure"] = (ImageItem(item.key, item.previous), reason.replace("image", "prior image"), detail)
                rec["crop"] = None
                return rec
            rec["prior_crop"] = prior["crop"]
        return rec


def _as_is(record: dict) -> dict:
    return record


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)  # workers decode; the forward pass owns the intra-op threads
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        os.nice(10)  # on CPU, decoding fills the forward's idle cycles instead of pre-empting it
    except OSError:
        pass


class ModelImagePairEmbeddings:
    """Decode pairs in `num_workers` workers, one `encode_image_pairs` forward per batch of `batch_size` pairs."""

    def __init__(self, adapter: EncoderAdapter, runtime: Runtime, batch_size: int | None = None, num_workers: int = 0,
                 progress: str | None = "image pairs", decode_options: Mapping[str, Any] | None = None) -> None:
        batch_size = runtime.default_batch_size if batch_size is None else batch_size
        if batch_size < 1 or num_workers < 0:
            raise ValueError(f"batch_size must be >= 1 and num_workers >= 0, got {batch_size}, {num_workers}")
        self.adapter, self.runtime = adapter, runtime
        self.batch_size, self.num_workers, self.progress = batch_size, num_workers, progress
        self.decode_options = dict(decode_options or {})  # keywords of data.images.load_image (the DICOM policy)

    def batches(self, items: Sequence[ImagePairItem]) -> Iterator[ImagePairBatch]:
        """Every item appears exactly once, in a batch's `items` or its `failures`."""
        items = list(items)
        if not items:
            return iter(())
        dataset = PairDecodeDataset(items, self.adapter.geometry, self.decode_options)
        loader = DataLoader(dataset, batch_size=None, shuffle=False,
                            num_workers=self.num_workers, collate_fn=_as_is,
                            worker_init_fn=_worker_init if self.num_workers else None,
                            prefetch_factor=max(2, 2 * self.batch_size // max(self.num_workers, 1))
                            if self.num_workers else None)
        return self._stream(items, iter(loader))

    def _stream(self, items: list[ImagePairItem], loader: Iterator[dict]) -> Iterator[ImagePairBatch]:
        bar = tqdm(total=len(items), desc=self.progress, unit="pair", disable=None if self.progress else True)
        pending: dict[bool, list[dict]] = {True: [], False: []}
        failures: list[ImageFailure] = []
        for rec in loader:
            if rec["failure"] is not None:
                failures.append(ImageFailure(*rec["failure"]))
                continue
            group = pending[rec["prior_crop"] is not None]
            group.append(rec)
            if len(group) >= self.batch_size:
                yield self._forward(items, group, failures)
                bar.update(len(group) + len(failures))
                group.clear()
                failures = []
        for with_prior in (True, False):
            if pending[with_prior] or failures:
                yield self._forward(items, pending[with_prior], failures, with_prior)
                bar.update(len(pending[with_prior]) + len(failures))
                failures = []
        bar.close()

    def _forward(self, items: list[ImagePairItem], recs: list[dict], failures: list[ImageFailure],
                 with_prior: bool | None = None) -> ImagePairBatch:
        with_prior = bool(recs and recs[0]["prior_crop"] is not None) if with_prior is None else with_prior
        embeddings = None
        if recs:
            channels, device = self.adapter.geometry.channels, self.runtime.device
            with profile.stage("forward"):
                current = to_model_input(torch.stack([r["crop"] for r in recs]), channels, device)
                previous = to_model_input(torch.stack([r["prior_crop"] for r in recs]), channels, device) \
                    if with_prior else None
                with self.runtime.inference():
                    embeddings = embeddings_to_float32(self.adapter.encode_image_pairs(current, previous))
        return ImagePairBatch([items[r["index"]] for r in recs], with_prior, embeddings, list(failures))
