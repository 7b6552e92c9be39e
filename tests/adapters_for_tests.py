"""Adapters defined for the tests: a box oracle that knows the annotations, and a random small CNN.

Both are real `EncoderAdapter`s and go through the whole harness path (DataLoader, geometry, grids, metrics).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from msxr_bench.adapters.base import GLOBAL, TEXT, AdapterMeta, EncoderAdapter, ImageEmbeddings
from msxr_bench.geometry.types import Geometry
from msxr_bench.geometry import axis_map, preprocess
from msxr_bench.data.images import load_image
from msxr_bench.data.types import MS_CXR_CATEGORIES, GroundingSample
from msxr_bench.metrics import cell_weights


def crop_key(pixels: torch.Tensor) -> str:
    """Identity of a preprocessed image: sha256 of its float32 bytes."""
    return hashlib.sha256(pixels.detach().to("cpu", torch.float32).contiguous().numpy().tobytes()).hexdigest()


class BoxOracleAdapter(EncoderAdapter):
    """Grids looked up by image content: grid(image, phrase) = the grid given for (image, phrase's category),
    zeros when that category is not on the image. Texts become one-hot category vectors."""

    def __init__(self, geometry: Geometry, grids: dict[str, dict[str, torch.Tensor]], category_of: dict[str, str]):
        super().__init__()
        self.meta = AdapterMeta(name="test-box-oracle", version="1", description="knows the boxes (tests)",
                                weights_source="oracle", embedding_dim=len(MS_CXR_CATEGORIES))
        self.geometry, self.grids, self.category_of = geometry, grids, category_of

    def encode_images(self, images: torch.Tensor) -> ImageEmbeddings:
        h, w = self.geometry.grid
        cells = torch.zeros(images.shape[0], len(MS_CXR_CATEGORIES), h, w)
        for b in range(images.shape[0]):
            for cat, grid in self.grids.get(crop_key(images[b]), {}).items():
                cells[b, MS_CXR_CATEGORIES.index(cat)] = grid
        glob = nn.functional.normalize(cells.mean(dim=(2, 3)) + 1e-6, dim=-1)
        return ImageEmbeddings(glob, cells.permute(0, 2, 3, 1), extras={"cells": cells})

    def encode_texts(self, texts: list[str], normalize: bool = True) -> torch.Tensor:
        out = torch.zeros(len(texts), len(MS_CXR_CATEGORIES))
        for i, t in enumerate(texts):
            out[i, MS_CXR_CATEGORIES.index(self.category_of[t])] = 1.0
        return out

    def similarity_grid(self, images: ImageEmbeddings, texts: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bchw,tc->bthw", images.extras["cells"].to(texts), texts)


def coverage_oracle(samples: Sequence[GroundingSample], geometry: Geometry) -> BoxOracleAdapter:
    """Oracle whose grid of a category is the fraction of each cell's pixels inside that category's boxes."""
    grids: dict[str, dict[str, torch.Tensor]] = {}
    by_image: dict[Path, list[GroundingSample]] = {}
    for s in samples:
        by_image.setdefault(s.image_path, []).append(s)
    for path, group in by_image.items():
        image = load_image(path)
        amap = axis_map(geometry, *image.shape, placement="official")
        per_cat: dict[str, torch.Tensor] = {}
        for cat in sorted({s.category for s in group}):
            boxes = [b for s in group if s.category == cat for b in s.boxes]
            w_in, w_all = cell_weights([amap], [boxes])
            per_cat[cat] = torch.where(w_all[0] > 0, w_in[0] / w_all[0].clamp(min=1), 0.0).float()
        grids[crop_key(preprocess(image, geometry))] = per_cat
    return BoxOracleAdapter(geometry, grids, {s.phrase: s.category for s in samples})


class RandomCNNAdapter(EncoderAdapter):
    """Untrained: three random stride-2 convolutions (grid = crop / 8) and seeded random text vectors."""

    def __init__(self, seed: int = 0, dim: int = 32, crop: int = 64, kind: str = "resize_crop",
                 smoothing_sigma: float | None = 1.0, max_text_tokens: int | None = None,
                 name: str = "test-random-cnn"):
        super().__init__()
        self.meta = AdapterMeta(name=name, version="1", description="random small CNN (tests)",
                                weights_source="random", embedding_dim=dim)
        self.geometry = Geometry(kind, resize=crop, crop=crop, grid=(crop // 8, crop // 8),  # type: ignore[arg-type]
                                 smoothing_sigma=smoothing_sigma)
        self.max_text_tokens, self.seed, self.dim = max_text_tokens, seed, dim
        self.body = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1), nn.Tanh(), nn.Conv2d(16, 32, 3, 2, 1), nn.Tanh(),
                                  nn.Conv2d(32, dim, 3, 2, 1))
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for p in self.body.parameters():
                p.copy_(torch.randn(p.shape, generator=gen) * (1.0 / max(1, p[0].numel()) ** 0.5))

    def encode_images(self, images: torch.Tensor) -> ImageEmbeddings:
        f = self.body(images - 0.5)
        patches = nn.functional.normalize(f.permute(0, 2, 3, 1), dim=-1)
        return ImageEmbeddings(nn.functional.normalize(f.mean(dim=(2, 3)), dim=-1), patches)

    def encode_texts(self, texts: list[str], normalize: bool = True) -> torch.Tensor:
        rows = []
        for t in texts:
            key = int.from_bytes(hashlib.sha256(f"{self.seed}:{t}".encode()).digest()[:8], "big")
            rows.append(torch.randn(self.dim, generator=torch.Generator().manual_seed(key)))
        out = torch.stack(rows).to(next(self.body.parameters()).device)
        return nn.functional.normalize(out, dim=-1) if normalize else out

    def count_text_tokens(self, texts: list[str]) -> list[int]:
        return [len(t.split()) for t in texts]


def build_random_cnn(**options: str) -> RandomCNNAdapter:
    """Registry factory (`--model-arg seed=1 --model-arg kind=letterbox_crop ...`)."""
    kw = {"seed": int(options.pop("seed", 0)), "kind": options.pop("kind", "resize_crop")}
    if "max_text_tokens" in options:
        kw["max_text_tokens"] = int(options.pop("max_text_tokens"))
    if options:
        raise ValueError(f"unknown options for test-random-cnn: {sorted(options)}")
    return RandomCNNAdapter(**kw)


class GlobalOnlyAdapter(RandomCNNAdapter):
    """Like the random CNN but without patch embeddings (grounding tasks must be skipped)."""

    capabilities = frozenset({GLOBAL, TEXT})

    def encode_images(self, images: torch.Tensor) -> ImageEmbeddings:
        emb = super().encode_images(images)
        return ImageEmbeddings(emb.global_, None)


def build_global_only(**options: str) -> GlobalOnlyAdapter:
    return GlobalOnlyAdapter(name="test-global-only")
