"""Similarity grids for (image, text) requests, streamed image batch by image batch, and the grid-level
scoring steps that precede upsampling (Gaussian smoothing, min-max rescaling over the pixels the map covers).

Only grids ([h, w]) are produced; full-resolution maps are built for pictures only (`viz`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Iterator

import torch

from msxr_bench.adapters.base import EncoderAdapter
from msxr_bench.data.geometry import AxisMap, smooth_grid
from msxr_bench.engine import profile
from msxr_bench.engine.images import ImageBatch, ImageFailure, ImageItem
from msxr_bench.metrics import minmax_rescale
from msxr_bench.tasks.spec import TaskSkipped


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
                raise TaskSkipped(f"{self.adapter.meta.name} returns no patch embeddings: grounding is not available")
            wanted = sorted({t for item in batch.items for t in requests[item.key]})
            with profile.stage("maps"), torch.inference_mode():
                grids = self.adapter.similarity_grid(batch.embeddings, self.text_table[wanted]).float()
            column = {t: k for k, t in enumerate(wanted)}
            for b, (item, size) in enumerate(zip(batch.items, batch.sizes)):
                yield item, size, {t: grids[b, column[t]] for t in requests[item.key]}


def adapter_placement(adapter: EncoderAdapter, default: str) -> str:
    """Where the adapter's grids land in the original image: its `map_placement` (or `placement`) option,
    e.g. BioViL's `--model-arg geometry=exact`; else the task default ("official")."""
    return getattr(adapter, "map_placement", None) or getattr(adapter, "placement", None) or default


def covered_cells(amap: AxisMap, device: torch.device) -> torch.Tensor:
    """Bool [h, w]: cells that paint at least one pixel of the original image (nearest upsampling)."""
    row_counts, col_counts = amap.cell_counts()
    return ((row_counts > 0)[:, None] & (col_counts > 0)[None, :]).to(device)


@dataclass(frozen=True)
class GridScoring:
    """The grid-level scoring choices of a run (recorded in the results)."""

    smoothing_sigma: float | None
    rescale: tuple[float, float] | None  # None = raw scores; else min-max to this range
    placement: str  # "official" | "exact" (effective placement per geometry is recorded too)

    def apply(self, grid: torch.Tensor, amap: AxisMap) -> torch.Tensor:
        if self.smoothing_sigma:
            grid = smooth_grid(grid, self.smoothing_sigma)
        if self.rescale is not None:  # min/max over covered cells = over the upsampled map's valid pixels
            grid = minmax_rescale(grid, valid=covered_cells(amap, grid.device), low=self.rescale[0],
                                  high=self.rescale[1])
        return grid

    def record(self) -> dict:
        return {
            "smoothing_sigma": self.smoothing_sigma,
            "smoothing": "gaussian on the grid before upsampling, mode reflect, truncate 4" if self.smoothing_sigma
            else "none",
            "map_rescale": "none" if self.rescale is None else f"minmax to [{self.rescale[0]}, {self.rescale[1]}] "
            "over the pixels the map covers",
            "upsampling": "nearest (exact cell-weighted metrics, equal to the full-resolution pixel computation)",
            "placement": self.placement,
        }
