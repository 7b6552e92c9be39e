"""The adapter contract: what a model must provide so that the harness can evaluate it.

The harness owns everything that is not the model (eval mode, no_grad, device, autocast, batching,
caching, geometry, metrics); an adapter only encodes images and texts.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Literal

import torch
from torch import nn


@dataclass(frozen=True)
class AdapterMeta:
    """Who the model is, where its weights come from, and how its scores must be read."""

    name: str
    version: str
    description: str
    weights_source: str  # hub id, URL or local path ("random" for untrained weights)
    weights_revision: str | None = None  # pinned hub revision / tag
    weights_sha256: str | None = None  # of the weights actually loaded
    embedding_dim: int = 128
    training_data: tuple[str, ...] = ()  # e.g. ("MIMIC-CXR",): the leaderboard flags MS-CXR overlap
    licence: str = "unknown"
    # How the harness must treat the model's local scores for threshold metrics (paper A.3):
    # "none" = raw cosine in [-1, 1]; "minmax" = min-max rescale each map to [-1, 1].
    map_rescale: Literal["none", "minmax"] = "none"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["training_data"] = list(self.training_data)
        return d


@dataclass(frozen=True)
class Geometry:
    """How an original image becomes the model input, and so how a patch grid maps back.

    kind="resize_crop": resize the short side to `resize` (PIL bilinear, antialiased), centre crop
    `crop` (BioViL). kind="letterbox_crop": resize the long side to `resize` (area), zero-pad to a
    square, centre crop `crop` (GLoRIA). `grid` is the patch grid (h, w) covering the crop.
    `smoothing_sigma` is a Gaussian applied on the grid before upsampling (BioViL: 1.5), or None.
    `normalize_mean/std` are applied by the adapter itself, recorded here for provenance only.
    """

    kind: Literal["resize_crop", "letterbox_crop"]
    resize: int
    crop: int
    grid: tuple[int, int]
    smoothing_sigma: float | None = None
    channels: int = 3

    def to_dict(self) -> dict:
        d = asdict(self)
        d["grid"] = list(self.grid)
        return d


@dataclass
class ImageEmbeddings:
    """L2-normalised image embeddings. `patches` is None for global-only models."""

    global_: torch.Tensor  # [B, D]
    patches: torch.Tensor | None = None  # [B, h, w, D]
    extras: dict = field(default_factory=dict)  # model-specific tensors (e.g. GLoRIA word-level inputs)


class EncoderAdapter(nn.Module):
    """Base class of every adapter. Subclasses set `meta` and `geometry` and implement the encoders.

    Input images reach `encode_images` preprocessed by the harness with `geometry`: a float tensor
    [B, 3, crop, crop] with values in [0, 1] (grey replicated over channels). Any intensity
    normalisation (ImageNet stats, 0.5/0.5, ...) is the adapter's business.
    """

    meta: AdapterMeta
    geometry: Geometry
    # Longest text the text encoder accepts, in tokens (None = no limit). An adapter that sets it must
    # also let the harness count tokens: a `count_text_tokens(texts) -> list[int]` method, or a
    # transformers `tokenizer` attribute (the harness refuses to guess otherwise).
    max_text_tokens: int | None = None
    # Where grids land in the original image: "official" (hi-ml's square placement, what published
    # BioViL numbers used) or "exact" (the true crop window). None = the task's default ("official").
    map_placement: str | None = None

    def encode_images(self, images: torch.Tensor) -> ImageEmbeddings:
        raise NotImplementedError

    def encode_texts(self, texts: list[str], normalize: bool = True) -> torch.Tensor:
        """[N, D] text embeddings; `normalize=False` gives the raw projections (for prompt averaging)."""
        raise NotImplementedError

    # ---- optional hooks -------------------------------------------------------------------------
    def embed_prompt_list(self, prompts: list[str]) -> torch.Tensor:
        """One [D] embedding for a list of prompts: mean of unnormalised projections, then L2 (hi-ml)."""
        raw = self.encode_texts(prompts, normalize=False)
        return torch.nn.functional.normalize(raw.mean(dim=0), dim=-1)

    def similarity_grid(self, images: ImageEmbeddings, texts: torch.Tensor) -> torch.Tensor:
        """[B, T, h, w] local scores of every image against every text (default: patch-text cosine)."""
        if images.patches is None:
            raise NotImplementedError(f"{self.meta.name} has no patch embeddings: grounding is not available")
        return torch.einsum("bhwd,td->bthw", images.patches, texts)

    @property
    def supports_grounding(self) -> bool:
        return True

    def text_encoder_for_finetuning(self):
        """(transformers encoder, tokenizer) for RadNLI fine-tuning, or raise NotImplementedError."""
        raise NotImplementedError(f"{self.meta.name} does not expose a text encoder for fine-tuning")

    # ---- identity (for caches and provenance) ---------------------------------------------------
    def identity(self) -> str:
        """A stable hash of what determines the outputs: name, version, weights and geometry."""
        blob = json.dumps({"meta": self.meta.to_dict(), "geometry": self.geometry.to_dict()}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]
