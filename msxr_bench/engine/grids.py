"""Similarity grids for (image, text) requests, streamed image batch by image batch.

Only grids ([h, w]) are produced; what is done to them before upsampling is `geometry.scoring`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Iterator

import torch

from msxr_bench.adapters.base import AdapterContractError, EncoderAdapter
from msxr_bench.engine import profile
from msxr_bench.engine.images import ImageBatch, ImageFailure, ImageItem


@dataclass
class GridStream:
    """Yields (item, original size (H, W), {text index: grid [h, w] float32}) per decoded image of a stream
    of image batches (a provider's `batches(items)`).

    `requests[item.key]` lists indices into `text_table` ([N, D] text embeddings). Grids come from
    `adapter.similarity_grid` on whole batches (fp32 embeddings, no autocast). Failures are collected.
    """

    adapter: EncoderAdapter
    text_table: torch.Tensor
    failures: list[ImageFailure] = field(default_factory=list)

    def __call__(self, batches: Iterable[ImageBatch], requests: dict[str, list[int]]) -> Iterator[
            tuple[ImageItem, tuple[int, int], dict[int, torch.Tensor]]]:
        for batch in batches:
            self.failures.extend(batch.failures)
            if not batch.items:
                continue
            if batch.embeddings is None or batch.embeddings.patches is None:
                raise AdapterContractError(f"{self.adapter.meta.name} returned no patch embeddings for a grounding task")
            wanted = sorted({t for item in batch.items for t in requests[item.key]})
            with profile.stage("maps"), torch.inference_mode():
                grids = self.adapter.similarity_grid(batch.embeddings, self.text_table[wanted]).float()
            column = {t: k for k, t in enumerate(wanted)}
            for b, (item, size) in enumerate(zip(batch.items, batch.sizes)):
                yield item, size, {t: grids[b, column[t]] for t in requests[item.key]}
