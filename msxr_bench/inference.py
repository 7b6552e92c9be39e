"""Single image, a few phrases, any adapter with patch embeddings: hi-ml-multimodal's `ImageTextInferenceEngine`
rebuilt on the adapter contract (decode -> geometry -> local scores -> Gaussian on the grid per the model's
geometry -> original frame, NaN outside the crop).

For BioViL, `ground_phrases` returns exactly what the official `get_similarity_map_from_raw_data` returns for each
phrase (tests/parity/). Tasks that score many images batch `encode_images` + `similarity_grid` + geometry instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from msxr_bench.adapters.base import EncoderAdapter
from msxr_bench.geometry import GridScoring, axis_map, grid_to_image, preprocess, resolve_placement
from msxr_bench.data.images import load_image


@dataclass
class GroundingResult:
    """The decoded image, one smoothed grid and one full-resolution map per phrase."""

    image: np.ndarray  # uint8 [H, W], as the model saw it before resizing
    phrases: list[str]
    grids: np.ndarray  # float32 [P, h, w], smoothed local scores (min-max rescaled for models that declare it)
    maps: np.ndarray  # float32 [P, H, W], NaN outside the region the model saw
    placement: str
    interpolation: str
    scale: str = "patch-text cosine similarity"  # what the values are (for colour bars)


def _device(adapter: EncoderAdapter) -> torch.device:
    param = next(adapter.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


@torch.no_grad()
def ground_phrases(adapter: EncoderAdapter, image_path: str | Path, phrases: list[str],
                   interpolation: str = "nearest", placement: str | None = None) -> GroundingResult:
    """Similarity maps of `phrases` on one image, as hi-ml's engine computes them (nearest by default). Placement:
    `placement` if given, else the adapter's own (`map_placement`), else "official"."""
    if not phrases:
        raise ValueError("give at least one phrase")
    placement = resolve_placement(placement or adapter.map_placement)
    geometry = adapter.geometry
    image = load_image(image_path)
    height, width = image.shape
    adapter.eval()
    x = preprocess(image, geometry)[None].to(_device(adapter))
    grid = adapter.similarity_grid(adapter.encode_images(x), adapter.encode_texts(list(phrases)))[0]
    minmax = adapter.meta.map_rescale == "minmax"  # scores not on a cosine scale: rescaled as the tasks do (A.3)
    scoring = GridScoring(geometry.smoothing_sigma, (-1.0, 1.0) if minmax else None, placement)
    grid = scoring.apply(grid.float().cpu(), axis_map(geometry, height, width, placement))
    maps = grid_to_image(grid, geometry, height, width, placement=placement, interpolation=interpolation)
    return GroundingResult(image=image, phrases=list(phrases), grids=grid.numpy().astype(np.float32),
                           maps=maps.numpy().astype(np.float32), placement=placement, interpolation=interpolation,
                           scale="local score, min-max rescaled to [-1, 1]" if minmax
                           else "patch-text cosine similarity")


@torch.no_grad()
def similarity_score(adapter: EncoderAdapter, image_path: str | Path, prompts: list[str]) -> float:
    """hi-ml's `get_similarity_score_from_raw_data`: global image embedding . L2(mean of raw prompt projections)."""
    adapter.eval()
    x = preprocess(load_image(image_path), adapter.geometry)[None].to(_device(adapter))
    image = adapter.encode_images(x).global_[0]
    return float(image @ adapter.embed_prompt_list(list(prompts)))
