"""The adapter contract: what a model must provide so that the harness can evaluate it.

The harness owns everything that is not the model (eval mode, no_grad, device, autocast, batching,
caching, geometry, metrics); an adapter only encodes images and texts (or predicts boxes). What an adapter
can do is declared in `capabilities`; tasks are gated on them (`check_adapter` verifies the declaration).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import torch
from pydantic import ConfigDict, ValidationError
from torch import nn

from msxr_bench.geometry.types import Geometry
from msxr_bench.results import AdapterMetaRecord

# ---- capabilities: what an adapter declares, what tasks are gated on -------------------------------------
GLOBAL = "global"  # encode_images(...).global_: one embedding per image (zero-shot classification, probes)
PATCHES = "patches"  # encode_images(...).patches: a patch grid (heatmap grounding, segmentation)
TEXT = "text"  # encode_texts: text embeddings in the joint space
IMAGE_PAIRS = "image_pairs"  # encode_image_pairs(current, previous): a prior study fused in (BioViL-T)
BOXES = "boxes"  # predict_boxes(images, phrases): 0..n boxes per (image, phrase)
TEXT_ENCODER = "text_encoder"  # text_encoder_for_finetuning(): a transformers encoder + tokenizer (RadNLI)
REMOTE = "remote"  # runs in another interpreter behind the wire protocol
FEATURES = "features"  # encode_image_features(x): pre-projection image features (the classic linear probe)
MLM = "mlm"  # masked_lm(): a masked-language model + tokenizer (masked-token accuracy, text-intrinsics)
CAPABILITIES: dict[str, str] = {
    GLOBAL: "global image embeddings",
    PATCHES: "patch-grid image embeddings (heatmaps)",
    TEXT: "text embeddings in the joint space",
    IMAGE_PAIRS: "image pairs (current + prior study)",
    BOXES: "box predictions (0..n per phrase)",
    TEXT_ENCODER: "a fine-tunable text encoder",
    REMOTE: "runs out of process",
    FEATURES: "pre-projection image features (classic linear probe)",
    MLM: "a masked-language model head",
}
IMAGE_CAPABILITIES = frozenset({GLOBAL, PATCHES, IMAGE_PAIRS, BOXES, FEATURES})
EMBEDDING_CAPABILITIES = frozenset({GLOBAL, PATCHES, TEXT, IMAGE_PAIRS})


class AdapterContractError(TypeError):
    """An adapter does not keep the contract it declares (missing meta field, geometry or method)."""


class AdapterMeta(AdapterMetaRecord):
    """Who the model is, where its weights come from, and how its scores must be read (validated on creation).

    `embedding_dim` is required of adapters with embeddings; `map_rescale` says how the harness must treat the
    local scores of patch-grid models for threshold metrics (paper A.3): "none" = raw cosine in [-1, 1],
    "minmax" = min-max rescale each map to [-1, 1].
    """

    model_config = ConfigDict(frozen=True)

    def to_dict(self) -> dict:
        return self.model_dump(mode="json")


@dataclass
class ImageEmbeddings:
    """L2-normalised image embeddings. `patches` is None for global-only models."""

    global_: torch.Tensor  # [B, D]
    patches: torch.Tensor | None = None  # [B, h, w, D]
    extras: dict = field(default_factory=dict)  # model-specific tensors (e.g. GLoRIA word-level inputs)


@dataclass(frozen=True)
class PredictedBox:
    """One box of a box-predicting adapter, in pixels of the model input (the crop the adapter was given)."""

    x: float
    y: float
    w: float
    h: float
    score: float = 1.0


class EncoderAdapter(nn.Module):
    """Base class of every adapter. Subclasses set `meta`, `capabilities` and (for image models) `geometry`,
    and implement the methods their capabilities name.

    Input images reach `encode_images` preprocessed by the harness with `geometry`: a float tensor
    [B, channels, crop, crop] with values in [0, 1] (grey replicated over channels). Any intensity
    normalisation (ImageNet stats, 0.5/0.5, ...) is the adapter's business.
    """

    meta: AdapterMeta
    geometry: Geometry
    capabilities: frozenset[str] = frozenset({GLOBAL, PATCHES, TEXT})
    # Longest text the text encoder accepts, in tokens (None = no limit). An adapter that sets it must
    # also let the harness count tokens: a `count_text_tokens(texts) -> list[int]` method, or a
    # transformers `tokenizer` attribute (the harness refuses to guess otherwise).
    max_text_tokens: int | None = None
    # Where grids land in the original image: "official" (hi-ml's square placement, what published
    # BioViL numbers used) or "exact" (the true crop window). None = the task's default ("official").
    map_placement: str | None = None

    def encode_images(self, images: torch.Tensor) -> ImageEmbeddings:
        """`global` / `patches`: embeddings of a batch of preprocessed images."""
        raise NotImplementedError

    def encode_texts(self, texts: list[str], normalize: bool = True) -> torch.Tensor:
        """`text`: [N, D] text embeddings; `normalize=False` gives the raw projections (for prompt averaging)."""
        raise NotImplementedError

    def encode_image_pairs(self, current: torch.Tensor, previous: torch.Tensor | None) -> ImageEmbeddings:
        """`image_pairs`: embeddings of `current` images with their prior studies fused in (`previous` None: no
        prior for the whole batch, the model's own absent-prior path)."""
        raise NotImplementedError

    def predict_boxes(self, images: torch.Tensor, phrases: list[str]) -> list[list[PredictedBox]]:
        """`boxes`: for each pair (images[i], phrases[i]) the 0..n boxes the model predicts, in pixels of the
        model input; an empty list means "not groundable". The harness maps them back to the original image."""
        raise NotImplementedError

    def text_encoder_for_finetuning(self):
        """`text_encoder`: (transformers encoder, tokenizer) for RadNLI fine-tuning."""
        raise NotImplementedError(f"{self.meta.name} does not expose a text encoder for fine-tuning")

    def encode_image_features(self, images: torch.Tensor) -> ImageEmbeddings:
        """`features`: the image encoder's features BEFORE the joint-space projection, unnormalised: global_ [B, F]
        (pooled as the model pools) and patches [B, h, w, F] when the model has a grid. The classic linear probe
        (random init on these features) reads them; F may differ from meta.embedding_dim."""
        raise NotImplementedError

    def masked_lm(self):
        """`mlm`: (masked-language model, tokenizer): model(input_ids=, attention_mask=).logits [B, L, V] with
        V = len(tokenizer) rows that mean the tokenizer's ids (masked-token accuracy of text-intrinsics)."""
        raise NotImplementedError

    # ---- optional hooks with defaults -----------------------------------------------------------------
    def embed_prompt_list(self, prompts: list[str]) -> torch.Tensor:
        """One [D] embedding for a list of prompts: mean of unnormalised projections, then L2 (hi-ml)."""
        raw = self.encode_texts(prompts, normalize=False)
        return torch.nn.functional.normalize(raw.mean(dim=0), dim=-1)

    def similarity_grid(self, images: ImageEmbeddings, texts: torch.Tensor) -> torch.Tensor:
        """[B, T, h, w] local scores of every image against every text (default: patch-text cosine)."""
        if images.patches is None:
            raise AdapterContractError(f"{self.meta.name} returned no patch embeddings")
        return torch.einsum("bhwd,td->bthw", images.patches, texts)

    @property
    def supports_grounding(self) -> bool:
        """Whether heatmap grounding is available (the `patches` capability)."""
        return PATCHES in self.capabilities

    # ---- identity (for caches and provenance) ---------------------------------------------------
    def identity(self) -> str:
        """A stable hash of what determines the outputs: name, version, weights and geometry."""
        geometry = getattr(self, "geometry", None)
        blob = json.dumps({"meta": self.meta.to_dict(), "geometry": geometry.to_dict() if geometry else None},
                          sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


# the method each capability needs, overridden from EncoderAdapter's
_METHOD_OF = {GLOBAL: "encode_images", PATCHES: "encode_images", TEXT: "encode_texts",
              IMAGE_PAIRS: "encode_image_pairs", BOXES: "predict_boxes", TEXT_ENCODER: "text_encoder_for_finetuning",
              FEATURES: "encode_image_features", MLM: "masked_lm"}


def check_adapter(adapter: object, name: str) -> EncoderAdapter:
    """`adapter` if it keeps the contract it declares, else an AdapterContractError saying what is missing."""
    where = f"adapter {name!r}"
    if not isinstance(adapter, EncoderAdapter):
        raise AdapterContractError(f"{where}: the factory returned {type(adapter).__name__}, not an EncoderAdapter")
    meta = getattr(adapter, "meta", None)
    if not isinstance(meta, AdapterMeta):
        try:
            adapter.meta = AdapterMeta.model_validate(meta if isinstance(meta, dict) else getattr(meta, "__dict__", {}))
        except ValidationError as exc:
            problems = "; ".join(f"meta.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise AdapterContractError(f"{where}: `meta` must be an AdapterMeta ({problems})") from None
    caps = getattr(adapter, "capabilities", None)
    if not isinstance(caps, (set, frozenset)) or not caps:
        raise AdapterContractError(f"{where}: `capabilities` must be a non-empty set of {', '.join(CAPABILITIES)}")
    unknown = sorted(set(caps) - set(CAPABILITIES))
    if unknown:
        raise AdapterContractError(f"{where}: unknown capabilities {unknown} (known: {', '.join(CAPABILITIES)})")
    if caps & IMAGE_CAPABILITIES and not isinstance(getattr(adapter, "geometry", None), Geometry):
        raise AdapterContractError(f"{where}: declares image capabilities ({', '.join(sorted(caps & IMAGE_CAPABILITIES))})"
                                   " but has no `geometry` (a msxr_bench.geometry.Geometry)")
    if caps & EMBEDDING_CAPABILITIES and adapter.meta.embedding_dim is None:
        raise AdapterContractError(f"{where}: meta.embedding_dim is required of an adapter with embeddings")
    for cap in sorted(caps):
        method = _METHOD_OF.get(cap)
        if method and getattr(type(adapter), method) is getattr(EncoderAdapter, method):
            raise AdapterContractError(f"{where}: declares {cap!r} but does not implement {method}()")
    return adapter
