"""GLoRIA's local/global alignment math (marshuang80/gloria @ 416466a, `gloria/loss/gloria_loss.py`):
word->region attention with two softmaxes, local and global scores and losses, for training and scoring.

Plain batched torch functions on any device; the alignment math runs outside autocast in float32 (float64
inputs stay float64). The zero-shot scoring built on them is in
`gloria_zero_shot.py`. Layouts follow upstream: words [N, D, T], regions [B, D, H, W], scores [images, texts].
"""

from __future__ import annotations

import functools
from typing import Literal, Sequence

import torch
import torch.nn.functional as F

Aggregation = Literal["sum", "mean"]


def full_precision(fn):
    """Run `fn` outside autocast with half-precision tensor arguments promoted to float32 (float64 stays):
    raw 768-d dot products and squared norms overflow float16."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        args = [a.float() if torch.is_tensor(a) and a.dtype in (torch.float16, torch.bfloat16) else a for a in args]
        device = next((a.device.type for a in args if torch.is_tensor(a)), "cpu")
        with torch.autocast(device_type=device, enabled=False):
            return fn(*args, **kwargs)
    return wrapper


def cosine_similarity(x1: torch.Tensor, x2: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    """sum(x1*x2) / max(|x1|*|x2|, eps) along `dim`, squeezed: a zero vector gives 0, not NaN (upstream)."""
    w12 = torch.sum(x1 * x2, dim)
    w1 = torch.linalg.vector_norm(x1, 2, dim)
    w2 = torch.linalg.vector_norm(x2, 2, dim)
    return (w12 / (w1 * w2).clamp(min=eps)).squeeze()


@full_precision
def attention_fn(
    query: torch.Tensor, context: torch.Tensor, temp1: float, word_mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Word->region attention of GLoRIA (ControlGAN style): two softmaxes on raw dot products.

    query [B, D, T] (words), context [B, D, H, W] (regions). P = softmax over the words of each region's
    dot products, A = softmax over the regions of temp1 * P; returns (context attended per word
    [B, D, T], A as [B, T, H, W]). `word_mask` [B, T] (True = real word) drops padded word columns from the
    softmax over words, giving exactly the result of the call on the unpadded columns.
    """
    batch, _, n_words = query.shape
    height, width = context.shape[2], context.shape[3]
    regions = context.reshape(batch, -1, height * width)  # [B, D, S]
    logits = torch.bmm(regions.transpose(1, 2), query)  # [B, S, T]
    if word_mask is not None:
        logits = logits.masked_fill(~word_mask[:, None, :], float("-inf"))
    per_region = torch.softmax(logits, dim=-1)  # over words
    attn = torch.softmax(per_region.transpose(1, 2) * temp1, dim=-1)  # [B, T, S], over regions
    weighted = torch.bmm(regions, attn.transpose(1, 2))  # [B, D, T]
    return weighted, attn.reshape(batch, n_words, height, width)


def _word_mask(n_words: Sequence[int] | torch.Tensor, n_slots: int, device: torch.device) -> torch.Tensor:
    lens = torch.as_tensor(n_words, device=device).reshape(-1, 1)
    return torch.arange(n_slots, device=device)[None, :] < lens  # [N, T]


def _check_lengths(n_words: Sequence[int] | torch.Tensor, start: int, available: int) -> list[int]:
    lens = [int(n) for n in (n_words.tolist() if torch.is_tensor(n_words) else n_words)]
    for i, n in enumerate(lens):
        if n < 1:
            raise ValueError(f"text {i} has {n} words: GLoRIA's local score needs at least one word")
        if start + n > available:
            raise ValueError(f"text {i} asks for word slots {start}..{start + n - 1}, only {available} exist")
    return lens


def _pairwise_alignment(
    regions: torch.Tensor, words: torch.Tensor, mask: torch.Tensor, temp1: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """`attention_fn` + cosine for every (image, text) pair without copying the image features.

    regions [B, D, S], words [N, D, T], mask [N, T] -> (R [B, N, T], attention [B, N, T, S]).
    """
    logits = torch.einsum("bds,ndt->bnst", regions, words)
    logits = logits.masked_fill(~mask[None, :, None, :], float("-inf"))
    per_region = torch.softmax(logits, dim=-1)  # over words
    attn = torch.softmax(per_region.transpose(2, 3) * temp1, dim=-1)  # [B, N, T, S], over regions
    weighted = torch.einsum("bds,bnts->bndt", regions, attn)
    sim = cosine_similarity(words.unsqueeze(0), weighted, dim=2)
    return sim.reshape(attn.shape[:3]), attn


@full_precision
def word_region_alignment(
    img_features: torch.Tensor,
    words_emb: torch.Tensor,
    n_words: Sequence[int] | torch.Tensor,
    temp1: float = 4.0,
    start: int = 0,
    text_chunk: int = 16,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """R[b, i, t] = cos(word t of text i, its attended context in image b), for every image and text.

    Text i uses word slots start .. start+n_words[i]-1 of words_emb [N, D, L]; img_features [B, D, H, W].
    Returns (R [B, N, T], attention [B, N, T, H, W], mask [N, T]) with T = max(n_words); entries past a
    text's length are 0 in R and must be ignored (see mask). Texts are processed `text_chunk` at a time.
    """
    lens = _check_lengths(n_words, start, words_emb.shape[2])
    n_img, _, height, width = img_features.shape
    n_slots = max(lens)
    words = words_emb[:, :, start:start + n_slots]  # [N, D, T]
    mask = _word_mask(lens, n_slots, words_emb.device)
    regions = img_features.reshape(n_img, img_features.shape[1], height * width)
    sims, attns = [], []
    for lo in range(0, words.shape[0], text_chunk):
        sim, attn = _pairwise_alignment(regions, words[lo:lo + text_chunk], mask[lo:lo + text_chunk], temp1)
        sims.append(sim)
        attns.append(attn)
    sim = torch.cat(sims, dim=1).masked_fill(~mask[None], 0.0)
    attn = torch.cat(attns, dim=1)
    return sim, attn.reshape(n_img, words.shape[0], n_slots, height, width), mask


def local_scores(
    img_features: torch.Tensor,
    words_emb: torch.Tensor,
    cap_lens: Sequence[int] | torch.Tensor,
    temp1: float = 4.0,
    temp2: float = 5.0,
    temp3: float = 10.0,
    agg: Aggregation = "sum",
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Training-time local logits [B images, N texts] = temp3 * log(sum_t exp(temp2 * R)) over the first
    cap_lens[i] slots of each text (`agg="mean"`: the mean instead of the sum); plus the matched-pair
    attention maps [1, n_i, H, W] of text i with image i (upstream returns them; needs B >= N).
    """
    sim, attn, mask = word_region_alignment(img_features, words_emb, cap_lens, temp1, start=0)
    logits = (sim * temp2).masked_fill(~mask[None], float("-inf"))
    z = torch.logsumexp(logits, dim=2)  # [B, N]
    if agg == "sum":
        pass
    elif agg == "mean":
        z = z - torch.log(mask.sum(dim=1).to(z.dtype))[None, :]
    else:
        raise ValueError(f"agg must be 'sum' or 'mean', got {agg!r}")
    lens = mask.sum(dim=1).tolist()
    maps = [attn[i, i, :n].unsqueeze(0) for i, n in enumerate(lens) if i < attn.shape[0]]
    return z * temp3, maps


def symmetric_cross_entropy(scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(CE(scores, arange), CE(scores^T, arange)) for a square [B, B] score matrix (image->text, text->image)."""
    if scores.ndim != 2 or scores.shape[0] != scores.shape[1]:
        raise ValueError(f"contrastive scores must be square [B, B], got {tuple(scores.shape)}")
    labels = torch.arange(scores.shape[0], device=scores.device)
    return F.cross_entropy(scores, labels), F.cross_entropy(scores.t(), labels)


def local_loss(
    img_features: torch.Tensor,
    words_emb: torch.Tensor,
    cap_lens: Sequence[int] | torch.Tensor,
    temp1: float = 4.0,
    temp2: float = 5.0,
    temp3: float = 10.0,
    agg: Aggregation = "sum",
) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
    """Upstream `local_loss`: (loss image->text, loss text->image, attention maps of matched pairs)."""
    scores, maps = local_scores(img_features, words_emb, cap_lens, temp1, temp2, temp3, agg)
    loss0, loss1 = symmetric_cross_entropy(scores)
    return loss0, loss1, maps


@full_precision
def global_scores(cnn_code: torch.Tensor, rnn_code: torch.Tensor, temp3: float = 10.0,
                  eps: float = 1e-8) -> torch.Tensor:
    """[B, N] = temp3 * cos(image b, text i) with upstream's clamp of the norm product at eps."""
    dots = cnn_code @ rnn_code.t()
    norms = torch.linalg.vector_norm(cnn_code, dim=1)[:, None] * torch.linalg.vector_norm(rnn_code, dim=1)[None, :]
    return dots / norms.clamp(min=eps) * temp3


def global_loss(
    cnn_code: torch.Tensor, rnn_code: torch.Tensor, eps: float = 1e-8, temp3: float = 10.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Upstream `global_loss`: symmetric cross-entropies of temp3-scaled cosine logits."""
    return symmetric_cross_entropy(global_scores(cnn_code, rnn_code, temp3, eps))


def training_cap_lens(sents: Sequence[Sequence[str]]) -> list[int]:
    """Upstream `_calc_local_loss` word count: slots whose word does not start with '[' plus one, i.e.
    `[CLS]` + the words, `[SEP]` excluded (an `[UNK]` is not counted, so the last word is cut instead)."""
    return [sum(1 for w in sent if not w.startswith("[")) + 1 for sent in sents]


def gloria_loss(
    img_emb_l: torch.Tensor,
    img_emb_g: torch.Tensor,
    text_emb_l: torch.Tensor,
    text_emb_g: torch.Tensor,
    sents: Sequence[Sequence[str]],
    temps: tuple[float, float, float] = (4.0, 5.0, 10.0),
    local_weight: float = 1.0,
    global_weight: float = 1.0,
) -> dict[str, torch.Tensor]:
    """Upstream `GLoRIA.calc_loss`: (local0 + local1) * w_local + (global0 + global1) * w_global."""
    t1, t2, t3 = temps
    l0, l1, _ = local_loss(img_emb_l, text_emb_l, training_cap_lens(sents), t1, t2, t3, "sum")
    g0, g1 = global_loss(img_emb_g, text_emb_g, temp3=t3)
    total = (l0 + l1) * local_weight + (g0 + g1) * global_weight
    return {"loss": total, "local_loss0": l0, "local_loss1": l1, "global_loss0": g0, "global_loss1": g1}
