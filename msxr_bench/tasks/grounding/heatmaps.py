"""PNG overlays of the first N samples of a map task, written while the maps stream by (`--save-heatmaps`).

The only place a full-resolution map is built, and only for these N pictures.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from msxr_bench.geometry import Geometry, grid_to_image
from msxr_bench.data.images import load_image
from msxr_bench.tasks.grounding.map_scoring import MapRequest, MapScore, boxes_in_image

PICTURE_INTERPOLATION = "bilinear"  # pictures only; metrics always use nearest


class HeatmapWriter:
    """Callable for `score_map_requests(on_map=...)`: draws the 'right' maps of `sample_ids`."""

    def __init__(self, out_dir: Path, task: str, sample_ids: list[str], titles: dict[str, str], geometry: Geometry,
                 placement: str, value_range: tuple[float, float] = (-1.0, 1.0)):
        self.out_dir, self.task, self.wanted = Path(out_dir), task, set(sample_ids)
        self.titles, self.geometry, self.placement, self.value_range = titles, geometry, placement, value_range
        self.written: list[Path] = []

    def __call__(self, request: MapRequest, size: tuple[int, int], grid: torch.Tensor, score: MapScore) -> None:
        from msxr_bench.viz import save_heatmap_overlay

        if request.role != "right" or request.sample_id not in self.wanted:
            return
        image = load_image(request.image.path)
        heat = grid_to_image(grid.detach().float().cpu(), self.geometry, size[0], size[1], placement=self.placement,
                             interpolation=PICTURE_INTERPOLATION).numpy()
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", request.sample_id)
        path = self.out_dir / f"{self.task}_{name}.png"
        save_heatmap_overlay(image, heat, boxes_in_image(request, size), self.titles[request.sample_id], path,
                             cnr=score.cnr, signed_cnr=score.signed_cnr, vmin=self.value_range[0], vmax=self.value_range[1],
                             footnote=f"{PICTURE_INTERPOLATION} upsampling (metrics: nearest)")
        self.written.append(path)
