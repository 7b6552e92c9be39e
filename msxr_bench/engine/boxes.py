"""Streamed box predictions: unique images decoded and cropped by DataLoader workers (as for embeddings), then
`adapter.predict_boxes` on batches of (image, phrase) pairs, and every box mapped back to original pixels through
the adapter's geometry (`geometry/boxes.py`). Per-image failures and dropped boxes are counted, never raised.

A box that is not finite, has no area, or lies wholly outside the image once mapped back is dropped and counted
("invalid box"); the rest are clipped to the image. A pair whose output the adapter reports unusable
(`PartialBatchError`, e.g. a remote worker's per-item error) gets no boxes at all and is listed in `unusable` (the
task skips it, it is not "no box"). An adapter that returns a wrong number of box lists breaks its contract.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping, Sequence

import torch

from msxr_bench.adapters.base import AdapterContractError, EncoderAdapter, PredictedBox
from msxr_bench.adapters.errors import PartialBatchError
from msxr_bench.engine import profile
from msxr_bench.engine.images import ImageFailure, ImageItem, ModelImageEmbeddings
from msxr_bench.engine.pixels import to_model_input
from msxr_bench.engine.runtime import Runtime
from msxr_bench.geometry.boxes import boxes_to_original

__all__ = ["BoxBatch", "ModelBoxPredictions", "predicted_to_original"]


@dataclass
class BoxBatch:
    """Boxes of the (image, phrase) pairs of one batch of decoded images: boxes[item key][phrase index] is a
    [k, 5] float64 tensor (x1, y1, x2, y2 in original pixels, score), in the adapter's order."""

    items: list[ImageItem]
    sizes: list[tuple[int, int]]
    boxes: dict[str, list[torch.Tensor]]
    failures: list[ImageFailure] = field(default_factory=list)
    dropped: Counter = field(default_factory=Counter)
    unusable: list[tuple[str, int, str]] = field(default_factory=list)  # (item key, phrase index, why): no boxes


def predicted_to_original(boxes: Sequence[PredictedBox], adapter: EncoderAdapter, size: tuple[int, int],
                          dropped: Counter) -> torch.Tensor:
    """[k, 5] original-pixel boxes (+ score) of one pair's predictions; invalid ones dropped and counted."""
    keep = []
    for b in boxes:
        values = (b.x, b.y, b.w, b.h, b.score)
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values) or b.w <= 0 or b.h <= 0:
            dropped["invalid box (not finite or no area)"] += 1
            continue
        keep.append([b.x, b.y, b.x + b.w, b.y + b.h, b.score])
    if not keep:
        return torch.zeros(0, 5, dtype=torch.float64)
    raw = torch.tensor(keep, dtype=torch.float64)
    xyxy = boxes_to_original(raw[:, :4], adapter.geometry, *size)
    inside = (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])
    dropped["box outside the image"] += int((~inside).sum())
    return torch.cat([xyxy, raw[:, 4:]], dim=1)[inside]


class ModelBoxPredictions(ModelImageEmbeddings):
    """Decode in `num_workers` workers; `predict_boxes` on up to `batch_size` pairs at a time, under the run's
    inference mode; `phrases[item key]` lists the phrases asked of each image."""

    def __init__(self, adapter: EncoderAdapter, runtime: Runtime, phrases: dict[str, list[str]],
                 batch_size: int | None = None, num_workers: int = 0, progress: str | None = "images",
                 decode_options: Mapping[str, Any] | None = None) -> None:
        super().__init__(adapter, runtime, batch_size, num_workers, progress, cache=None,
                         decode_options=decode_options)
        self.phrases = phrases

    def batches(self, items: Sequence[ImageItem]) -> Iterator[BoxBatch]:  # type: ignore[override]
        return super().batches(items)  # type: ignore[return-value]

    def _forward(self, items: list[ImageItem], crops: list[dict], failures: list[ImageFailure]) -> BoxBatch:
        batch = BoxBatch([items[r["index"]] for r in crops], [r["size"] for r in crops], {}, failures)
        if not crops:
            return batch
        pixels = to_model_input(torch.stack([r["crop"] for r in crops]), self.adapter.geometry.channels,
                                self.runtime.device)
        pairs = [(b, p) for b, item in enumerate(batch.items) for p in range(len(self.phrases[item.key]))]
        for item in batch.items:
            batch.boxes[item.key] = [torch.zeros(0, 5, dtype=torch.float64)] * len(self.phrases[item.key])
        for start in range(0, len(pairs), self.batch_size):
            chunk = pairs[start:start + self.batch_size]
            index = torch.tensor([b for b, _ in chunk], device=pixels.device)
            texts = [self.phrases[batch.items[b].key][p] for b, p in chunk]
            with profile.stage("forward"), self.runtime.inference():
                try:
                    predicted = self.adapter.predict_boxes(pixels[index], texts)
                except PartialBatchError as exc:  # some pairs' outputs unusable: counted, the rest go on
                    for i, why in exc.failures.items():
                        batch.unusable.append((batch.items[chunk[i][0]].key, chunk[i][1], why))
                    chunk, predicted = [chunk[i] for i in exc.kept], exc.partial or []
            if not isinstance(predicted, (list, tuple)) or len(predicted) != len(chunk):
                got = len(predicted) if isinstance(predicted, (list, tuple)) else type(predicted).__name__
                raise AdapterContractError(f"{self.adapter.meta.name}.predict_boxes returned {got} box lists for "
                                           f"{len(chunk)} (image, phrase) pairs")
            for (b, p), boxes in zip(chunk, predicted):
                item = batch.items[b]
                batch.boxes[item.key][p] = predicted_to_original(boxes, self.adapter, batch.sizes[b], batch.dropped)
        return batch
