"""Training losses of the three recipes.

- `contrastive_loss`: InfoNCE on cosine similarities of paired global embeddings, the two directions weighted
  λ (image->text) and 1 - λ (text->image): ConVIRT's loss (τ 0.1, λ 0.75, asymmetric) and BioViL's global
  alignment L_GA (τ 0.5, λ_GA 0.5, i.e. symmetric).
- `mlm_loss`: masked-language-model cross-entropy of BioViL's CXR-BERT (masks from `training.text`).
- `gloria_loss`: GLoRIA's local + global losses, the parity-tested upstream functions of
  `models/gloria_attention.py` (re-exported, not copied).
- `nt_xent_loss`: SimCLR's normalised-temperature cross-entropy over the 2N views of N images.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from msxr_bench.models.gloria_attention import gloria_loss

__all__ = ["BIOVIL_TAU", "BIOVIL_LAMBDA_GA", "CONVIRT_TAU", "CONVIRT_LAMBDA", "contrastive_loss", "mlm_loss",
           "biovil_loss", "convirt_loss", "gloria_loss", "nt_xent_loss"]

BIOVIL_TAU, BIOVIL_LAMBDA_GA = 0.5, 0.5
CONVIRT_TAU, CONVIRT_LAMBDA = 0.1, 0.75


def contrastive_loss(image_emb: torch.Tensor, text_emb: torch.Tensor, temperature: float,
                     image_to_text_weight: float = 0.5) -> dict[str, torch.Tensor]:
    """InfoNCE over a batch of N pairs (pair i = image i with text i; the other N - 1 are negatives).

    logits = cos(v_i, u_j) / τ; ℓ(v->u) = CE over each image's row, ℓ(u->v) = CE over each text's column;
    loss = λ ℓ(v->u) + (1 - λ) ℓ(u->v), both means over the batch (ConVIRT's formula; λ = 0.5 is symmetric).
    """
    if image_emb.ndim != 2 or image_emb.shape != text_emb.shape:
        raise ValueError(f"need paired [N, D] embeddings, got {tuple(image_emb.shape)} and {tuple(text_emb.shape)}")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    logits = F.normalize(image_emb.float(), dim=-1) @ F.normalize(text_emb.float(), dim=-1).t() / temperature
    labels = torch.arange(logits.shape[0], device=logits.device)
    image_to_text = F.cross_entropy(logits, labels)
    text_to_image = F.cross_entropy(logits.t(), labels)
    loss = image_to_text_weight * image_to_text + (1 - image_to_text_weight) * text_to_image
    return {"loss": loss, "image_to_text": image_to_text.detach(), "text_to_image": text_to_image.detach()}


def mlm_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the predicted positions (labels != -100) of MLM logits [N, L, V]."""
    if not (labels != -100).any():
        return logits.sum() * 0.0  # nothing masked in this batch: a zero that keeps the graph
    return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)


def biovil_loss(image_emb: torch.Tensor, text_emb: torch.Tensor, mlm_logits: torch.Tensor | None,
                mlm_labels: torch.Tensor | None, temperature: float = BIOVIL_TAU,
                lambda_ga: float = BIOVIL_LAMBDA_GA, mlm_weight: float = 1.0) -> dict[str, torch.Tensor]:
    """BioViL: L = L_GA + w_MLM · L_MLM with L_GA the symmetric global InfoNCE (τ 0.5, λ_GA 0.5)."""
    parts = contrastive_loss(image_emb, text_emb, temperature, lambda_ga)
    out = {"global_alignment": parts["loss"].detach(), "image_to_text": parts["image_to_text"],
           "text_to_image": parts["text_to_image"]}
    total = parts["loss"]
    if mlm_logits is not None and mlm_weight:
        mlm = mlm_loss(mlm_logits, mlm_labels)
        out["mlm"] = mlm.detach()
        total = total + mlm_weight * mlm
    out["loss"] = total
    return out


def convirt_loss(image_emb: torch.Tensor, text_emb: torch.Tensor, temperature: float = CONVIRT_TAU,
                 image_to_text_weight: float = CONVIRT_LAMBDA) -> dict[str, torch.Tensor]:
    """ConVIRT: asymmetric InfoNCE, τ 0.1, λ 0.75 on image->text (Zhang et al.; edreisMD/vilmedic agree)."""
    return contrastive_loss(image_emb, text_emb, temperature, image_to_text_weight)


def nt_xent_loss(view_a: torch.Tensor, view_b: torch.Tensor, temperature: float) -> dict[str, torch.Tensor]:
    """SimCLR (Chen et al. 2020): z = L2-normalised embeddings of the 2N views; for each view the positive is the
    other view of its image, the negatives the other 2N - 2 views; loss = mean over the 2N views of the cross-entropy
    of cos / τ (the view itself left out)."""
    if view_a.ndim != 2 or view_a.shape != view_b.shape or view_a.shape[0] < 2:
        raise ValueError(f"need two [N >= 2, D] view embeddings, got {tuple(view_a.shape)} and {tuple(view_b.shape)}")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    n = view_a.shape[0]
    z = F.normalize(torch.cat([view_a, view_b]).float(), dim=-1)
    logits = (z @ z.t() / temperature).fill_diagonal_(float("-inf"))
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(logits.device)
    loss = F.cross_entropy(logits, targets)
    accuracy = (logits.argmax(dim=1) == targets).float().mean()
    return {"loss": loss, "positive_top1": accuracy.detach()}
