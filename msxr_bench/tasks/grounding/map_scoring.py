"""Score (image, text, boxes) requests: stream similarity grids image batch by image batch and compute the
exact cell-weighted grounding metrics as soon as an image's grids exist (no full-resolution map is built).

Shared by `ms-cxr` (right and wrong phrase per sample) and `rsna-seg` (the positive prompt per image).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from msxr_bench.adapters.base import EncoderAdapter
from msxr_bench.data.types import Box
from msxr_bench.engine import profile
from msxr_bench.engine.grids import GridStream
from msxr_bench.engine.images import ImageFailure, ImageItem, image_failure_report, shard
from msxr_bench.geometry import AxisMap, GridScoring, axis_map
from msxr_bench.metrics import grounding_scores
from msxr_bench.tasks.context import RunContext

__all__ = ["MapRequest", "MapScore", "boxes_in_image", "image_failure_report", "score_map_requests"]

FLUSH_EVERY = 256  # requests scored per metrics call


@dataclass(frozen=True)
class MapRequest:
    sample_id: str
    image: ImageItem
    text: int  # row of the text table
    boxes: tuple[Box, ...]
    role: str = "right"  # "right" phrase, or "wrong" (phrase-sensitivity control)
    box_frame: tuple[int, int] | None = None  # (H, W) the boxes are given in, if not the decoded image's


@dataclass(frozen=True)
class MapScore:
    cnr: float
    signed_cnr: float
    iou: tuple[float, ...]
    dice: tuple[float, ...]
    status: int


OnMap = Callable[[MapRequest, tuple[int, int], torch.Tensor, MapScore], None]


def boxes_in_image(request: MapRequest, size: tuple[int, int]) -> tuple[Box, ...]:
    if request.box_frame is None or tuple(request.box_frame) == tuple(size):
        return request.boxes
    sy, sx = size[0] / request.box_frame[0], size[1] / request.box_frame[1]
    return tuple(b.scaled(sx, sy) for b in request.boxes)


def score_map_requests(
    requests: Sequence[MapRequest], text_table: torch.Tensor | Callable[[], torch.Tensor], run: RunContext,
    adapter: EncoderAdapter, scoring: GridScoring, thresholds: Sequence[float], on_map: OnMap | None = None,
    on_raw: Callable[[MapRequest, tuple[int, int], torch.Tensor], None] | None = None,
) -> tuple[dict[tuple[str, str], MapScore], list[ImageFailure]]:
    """{(sample_id, role): MapScore} for every request whose image decoded, and the image failures.

    Each unique image is decoded and encoded once (this process's shard of them; `run.gather` merges the
    shards' scores); `on_map` sees every processed grid right after it is scored (heatmap pictures); `on_raw` sees
    each request's raw similarity grid (before smoothing and rescaling) as it arrives.
    `text_table` may be a function computing it: it is called once the image workers have started, so
    that decoding overlaps the text encoder.
    """
    by_image: dict[str, list[MapRequest]] = {}
    items: dict[str, ImageItem] = {}
    for r in requests:
        by_image.setdefault(r.image.key, []).append(r)
        items.setdefault(r.image.key, r.image)
    mine = shard(list(items.values()), run.rank, run.world_size)
    batches = run.image_provider_for(adapter).batches(mine)  # the DataLoader workers start decoding now,
    stream = GridStream(adapter, text_table() if callable(text_table) else text_table)  # beside the texts
    texts_per_image = {key: sorted({r.text for r in rs}) for key, rs in by_image.items()}

    scores: dict[tuple[str, str], MapScore] = {}
    pending: list[tuple[MapRequest, tuple[int, int], torch.Tensor, AxisMap, tuple[Box, ...]]] = []

    def flush() -> None:
        if not pending:
            return
        with profile.stage("metrics"):
                got = grounding_scores(torch.stack([p[2] for p in pending]), [p[3] for p in pending],
                                   [p[4] for p in pending], thresholds)
        for k, (req, size, grid, _, _) in enumerate(pending):
            score = MapScore(float(got.cnr[k]), float(got.cnr_signed[k]), tuple(got.iou[k].tolist()),
                             tuple(got.dice[k].tolist()), int(got.status[k]))
            scores[(req.sample_id, req.role)] = score
            if on_map is not None:
                on_map(req, size, grid, score)
        pending.clear()

    for item, size, grids in stream(batches, texts_per_image):
        with profile.stage("maps"):
            amap = axis_map(adapter.geometry, size[0], size[1], scoring.placement)
            for req in by_image[item.key]:
                if on_raw is not None:
                    on_raw(req, size, grids[req.text])
                pending.append((req, size, scoring.apply(grids[req.text], amap), amap, boxes_in_image(req, size)))
        if len(pending) >= FLUSH_EVERY:
            flush()
    flush()
    return run.gather_results(scores, stream.failures)
