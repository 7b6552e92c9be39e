"""Streamed image embeddings: unique images decoded + preprocessed by DataLoader workers, encoded in batches.

Workers send uint8 single-channel crops (`engine.pixels`); the float [B, C, crop, crop] input is made on the
run's device. With an `EvalCache`, a worker first hashes the file and serves a stored embedding or stored
crop; only the rest is decoded, and new crops and embeddings are stored. Nothing per image outlives its
batch here (host memory stays flat in the number of images). `ImageEmbeddingProvider` is the seam for other
providers and `shard` the one for multi-process runs (each rank takes its slice of the unique images).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Protocol, Sequence

import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from msxr_bench.adapters.base import EncoderAdapter, ImageEmbeddings
from msxr_bench.adapters.errors import PartialBatchError
from msxr_bench.data.types import SkipReport
from msxr_bench.geometry.types import Geometry
from msxr_bench.engine import profile
from msxr_bench.engine.pixels import preprocess_uint8, to_model_input
from msxr_bench.engine.runtime import Runtime, embeddings_to_float32

if TYPE_CHECKING:
    from msxr_bench.cache import EvalCache, ImageCacheView

log = logging.getLogger(__name__)
ALL_EXAMPLES = 1_000_000  # image skip reports list every skipped sample
WORKER_NICENESS = 10  # CPU runs only (see _background_worker)
GEOMETRY_REFUSAL = "image unusable with the model's geometry"


@dataclass(frozen=True)
class ImageItem:
    """One unique image of a task: `key` identifies it in the task (dicom_id, patientId), `path` on disk."""

    key: str
    path: Path


@dataclass
class ImageFailure:
    item: ImageItem
    reason: str  # short, for counting: one of data.images.REASONS, GEOMETRY_REFUSAL, or "... (<exception type>)"
    detail: str  # the file and the cause


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


def image_failure_report(failures: Sequence[ImageFailure], sample_ids_by_image: dict[str, list[str]]) -> SkipReport:
    """One skip per sample whose image is missing or unreadable, every one listed (sample id and path)."""
    report = SkipReport(source="images", max_examples=ALL_EXAMPLES)
    for failure in sorted(failures, key=lambda f: f.item.key):
        for sid in sample_ids_by_image.get(failure.item.key, []):
            report.add(failure.reason, f"{sid} ({failure.detail})")  # the detail names the file
    return report


def shard(items: Sequence[ImageItem], rank: int = 0, world_size: int = 1) -> list[ImageItem]:
    """The slice of the unique images that process `rank` of `world_size` evaluates."""
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} outside world size {world_size}")
    return list(items[rank::world_size])


class ImageDecodeDataset(Dataset):
    """One record per item: a cached embedding, or a uint8 crop (cached or decoded with data.images.load_image
    and cropped with the geometry), or a failure `(reason, detail)` instead of an exception, whatever went
    wrong with that one image (`image_failure_cause`). Each record carries the seconds its stages took
    (summed into `engine.profile`)."""

    def __init__(self, items: Sequence[ImageItem], geometry: Geometry, cache: "ImageCacheView | None" = None,
                 decode_options: Mapping[str, Any] | None = None):
        self.items, self.geometry, self.cache = list(items), geometry, cache
        self.decode_options = dict(decode_options or {})  # keywords of data.images.load_image

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        item = self.items[index]
        rec = {"index": index, "crop": None, "embedding": None, "size": None, "sha": None, "failure": None,
               "source": None, "times": {}}
        stage = ["hash"]  # the stage running when an unplanned exception escapes (named in its reason)
        try:
            self._fill(item, rec, _Clock(rec["times"]), stage)
        except Exception as exc:  # one image's problem, whatever its type: a counted failure, never the run's end
            rec.update(crop=None, embedding=None, size=None, source=None)
            rec["failure"] = image_failure_cause(item, exc, stage[0])
        return rec

    def _fill(self, item: ImageItem, rec: dict, clock: "_Clock", stage: list[str]) -> None:
        from msxr_bench.hashing import file_sha256
        from msxr_bench.data import images

        if self.cache is not None:
            try:
                rec["sha"] = clock("hash", file_sha256, item.path)
            except OSError:
                pass  # decoding below reports the file's problem
        if rec["sha"] is not None:
            stage[0] = "cache read"
            hit = clock("cache read", self.cache.get_embedding, rec["sha"])
            if hit is not None:
                rec["size"], rec["embedding"], rec["source"] = hit[0], hit[1], "embedding hits"
                return
            hit = clock("cache read", self.cache.get_pixels, rec["sha"])
            if hit is not None:
                rec["size"], rec["crop"], rec["source"] = hit[0], torch.from_numpy(hit[1]), "pixel hits"
                return
        stage[0] = "decode"
        image = clock("decode", lambda p: images.load_image(p, **self.decode_options), item.path)
        stage[0] = "resize"
        try:
            crop = clock("resize", preprocess_uint8, image, self.geometry)
        except ValueError as exc:  # e.g. too thin to letterbox: this image only, the run goes on
            raise _GeometryRefusal(str(exc)) from exc
        rec["size"], rec["crop"], rec["source"] = tuple(image.shape[:2]), torch.from_numpy(crop), "decoded"
        if rec["sha"] is not None:
            stage[0] = "cache write"
            clock("pixel write", self.cache.put_pixels, rec["sha"], rec["size"], crop)


class _GeometryRefusal(Exception):
    """The geometry cannot take this image (e.g. too thin to letterbox)."""


def image_failure_cause(item: ImageItem, exc: BaseException, stage: str = "decode") -> tuple[str, str]:
    """(reason, detail) of one image that could not be used: the reason is short, for counting (one of
    `data.images.REASONS`, the geometry's, or "<stage> failed (<exception type>)" for the unplanned), the
    detail names the file and the cause."""
    from msxr_bench.data.images import MISSING, ImageDecodeError

    path = Path(item.path)
    if isinstance(exc, ImageDecodeError):
        return exc.reason, str(exc)
    if isinstance(exc, _GeometryRefusal):
        return GEOMETRY_REFUSAL, f"{path}: {exc}"
    if not path.is_file():
        return MISSING, f"{path}: image file not found ({type(exc).__name__}: {exc})"
    what = "unreadable image" if stage == "decode" else f"{stage} failed"
    return f"{what} ({type(exc).__name__})", f"{path}: {type(exc).__name__}: {exc}"


class _Clock:
    def __init__(self, times: dict[str, float]) -> None:
        self.times = times

    def __call__(self, name: str, fn, *args):
        t0 = time.perf_counter()
        try:
            return fn(*args)
        finally:
            self.times[name] = self.times.get(name, 0.0) + time.perf_counter() - t0


def _as_is(record: dict) -> dict:
    return record  # records go through the DataLoader unchanged (no automatic batching)


def _single_thread_worker(_: int) -> None:
    torch.set_num_threads(1)  # workers decode; intra-op threads would only oversubscribe the cores
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle (no worker tracebacks)


def _background_worker(index: int) -> None:
    """CPU runs: the forward pass and the workers share the cores. At a lower priority, decoding fills the
    forward's idle cycles instead of pre-empting its OpenMP threads (each pre-emption stalls them all at
    the next barrier); when the model waits for images, the workers still get every idle core."""
    _single_thread_worker(index)
    try:
        os.nice(WORKER_NICENESS)
    except OSError:
        pass


class ModelImageEmbeddings:
    """The plain provider: decode in `num_workers` workers, one forward per batch of `batch_size` images;
    with `cache`, stored embeddings and crops are served and new ones stored."""

    def __init__(self, adapter: EncoderAdapter, runtime: Runtime, batch_size: int | None = None, num_workers: int = 0,
                 progress: str | None = "images", cache: "EvalCache | None" = None,
                 decode_options: Mapping[str, Any] | None = None):
        batch_size = runtime.default_batch_size if batch_size is None else batch_size
        if batch_size < 1 or num_workers < 0:
            raise ValueError(f"batch_size must be >= 1 and num_workers >= 0, got {batch_size}, {num_workers}")
        self.adapter, self.runtime = adapter, runtime
        self.batch_size, self.num_workers, self.progress = batch_size, num_workers, progress
        self.view = cache.images(adapter, runtime.device, runtime.precision) if cache is not None else None
        self.decode_options = dict(decode_options or {})  # keywords of data.images.load_image
        self.stats = {"embedding hits": 0, "pixel hits": 0, "decoded": 0, "failed": 0}

    def _loader(self, items: list[ImageItem]) -> DataLoader:
        """One record per image; all workers feed every batch. At most about two batches' worth of records
        are in flight (prefetch), so host memory does not grow with the number of images."""
        per_worker = max(2, -(-2 * self.batch_size // max(self.num_workers, 1)))
        return DataLoader(
            ImageDecodeDataset(items, self.adapter.geometry, self.view, self.decode_options),
            batch_size=None, shuffle=False, num_workers=self.num_workers, collate_fn=_as_is,
            worker_init_fn=(_background_worker if self.runtime.device.type == "cpu" else _single_thread_worker)
            if self.num_workers else None,
            prefetch_factor=per_worker if self.num_workers else None,
        )

    def batches(self, items: Sequence[ImageItem]) -> Iterator[ImageBatch]:
        """The stream of batches. The workers start decoding when this is called, not at the first batch,
        so that the caller's remaining set-up (e.g. encoding the texts) overlaps decoding."""
        items = list(items)
        if not items:
            return iter(())
        return self._stream(items, iter(self._loader(items)))

    def _stream(self, items: list[ImageItem], loader: Iterator[dict]) -> Iterator[ImageBatch]:
        bar = tqdm(total=len(items), desc=self.progress, unit="img", disable=None if self.progress else True)
        # the first forward takes a quarter batch, so that the model starts early (a lone image would run
        # inefficiently on CPU); batches are [B/4, B, B, ...] whatever the number of workers, and so are the
        # batches of cached embeddings: a cached run groups images as the run that filled the cache did
        size = hit_size = max(1, self.batch_size // 4)
        crops: list[dict] = []
        hits: list[dict] = []
        failures: list[ImageFailure] = []
        while True:
            # with workers, the time the main process waits for them (decoding not hidden behind the forward)
            with profile.stage("wait") if self.num_workers else contextlib.nullcontext():
                rec = next(loader, None)
            done = rec is None
            if not done:
                for name, seconds in rec["times"].items():
                    profile.add(name, seconds)
                source = rec["source"] or "failed"
                self.stats[source] += 1
                profile.tally(source if source != "failed" else "images failed")
                if rec["failure"] is not None:
                    failures.append(ImageFailure(items[rec["index"]], *rec["failure"]))
                else:
                    (hits if rec["embedding"] is not None else crops).append(rec)
            if hits and (done or len(hits) >= hit_size):
                yield self._hits(items, hits, failures)
                bar.update(len(hits) + len(failures))
                hits, failures, hit_size = [], [], self.batch_size
            if (crops or failures) and (done or len(crops) >= size):
                yield self._forward(items, crops, failures)
                bar.update(len(crops) + len(failures))
                crops, failures, size = [], [], self.batch_size
            if done:
                break
        bar.close()

    def _hits(self, items: list[ImageItem], hits: list[dict], failures: list[ImageFailure]) -> ImageBatch:
        from msxr_bench.cache import stacked_embeddings

        emb = stacked_embeddings([r["embedding"] for r in hits])
        dev = self.runtime.device
        emb = ImageEmbeddings(emb.global_.to(dev, non_blocking=True),
                              None if emb.patches is None else emb.patches.to(dev, non_blocking=True),
                              {k: v.to(dev, non_blocking=True) for k, v in emb.extras.items()})
        return ImageBatch([items[r["index"]] for r in hits], [r["size"] for r in hits], emb, failures)

    def _forward(self, items: list[ImageItem], crops: list[dict], failures: list[ImageFailure]) -> ImageBatch:
        embeddings = None
        if crops:
            with profile.stage("forward"):
                batch = torch.stack([r["crop"] for r in crops])
                if self.runtime.device.type == "cuda":
                    batch = batch.pin_memory()  # so that the host-to-device copy is asynchronous
                pixels = to_model_input(batch, self.adapter.geometry.channels, self.runtime.device)
                with self.runtime.inference():
                    try:
                        got = self.adapter.encode_images(pixels)
                    except PartialBatchError as exc:  # some items' outputs unusable: those are counted skips
                        failures = failures + [ImageFailure(items[crops[i]["index"]], "model output unusable", why)
                                               for i, why in exc.failures.items()]
                        crops, got = [crops[i] for i in exc.kept], exc.partial
                    embeddings = embeddings_to_float32(got) if got is not None and crops else None
            if embeddings is not None and self.view is not None and self.view.embeddings:
                with profile.stage("embedding write"):
                    self._store(embeddings, [r["sha"] for r in crops], [r["size"] for r in crops])
        return ImageBatch([items[r["index"]] for r in crops], [r["size"] for r in crops], embeddings, failures)

    def _store(self, embeddings: ImageEmbeddings, shas: list[str | None], sizes: list[tuple[int, int]]) -> None:
        from msxr_bench.cache import embedding_tensors

        embeddings = ImageEmbeddings(embeddings.global_.cpu(), None if embeddings.patches is None else
                                     embeddings.patches.cpu(), {k: v.cpu() if torch.is_tensor(v) else v
                                                                for k, v in embeddings.extras.items()})
        for b, (sha, size) in enumerate(zip(shas, sizes)):
            if sha is None:
                continue
            tensors = embedding_tensors(embeddings, b)
            if tensors is None:
                log.warning("%s returns extras that are not batched tensors: image embeddings are not cached",
                            self.adapter.meta.name)
                self.view = type(self.view)(self.view.pixels_dir, self.view.embeddings_dir, embeddings=False)
                return
            self.view.put_embedding(sha, size, tensors)
