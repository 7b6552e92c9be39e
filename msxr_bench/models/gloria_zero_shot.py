"""GLoRIA zero-shot scoring (marshuang80/gloria @ 416466a, `get_local_similarities`,
`get_global_similarities`, `get_similarities`, `zero_shot_classification`) in two named modes.

`released`: what the released code computes. Word length = the prompt's character count (a bug; the
zero slots it pulls in enter the softmax over words and floor the score at 0), per class the **max** over
its prompts, then each class column z-scored over the images passed in (transductive: a score depends on
the other images). `fixed`: word length = the merged word count, per class the **mean** over its prompts,
no normalisation across images, and prompts keep their one-word sentences (upstream's cleaning drops
them, so the prompt "pneumonia" becomes "[CLS] [SEP]"; the adapter keeps them for every other text too).
Both use 5 * max over words of R (gamma1 = 4, gamma2 = 5, as upstream) and combined = (local + global) / 2.

The upstream reference's `zs_*_wordcount` arrays are upstream's computation with only the word length
corrected (max over prompts and z-scoring kept): `fixed` shares their local, global and combined
similarities and differs from `zs_class_scores_wordcount` in the class aggregation only.
"""

from __future__ import annotations

from typing import Literal, Sequence

import torch
import torch.nn.functional as F

from msxr_bench.models.gloria_attention import word_region_alignment
from msxr_bench.models.gloria_text import released_cap_len, word_count

ZeroShotMode = Literal["released", "fixed"]
ZERO_SHOT_MODES = ("released", "fixed")


def zero_shot_cap_lens(prompts: Sequence[str], sents: Sequence[Sequence[str]], mode: ZeroShotMode,
                       n_slots: int = 97) -> list[int]:
    """Word slots 1..c read per prompt: c = characters ≠ '[' (released) or merged words (fixed)."""
    if mode == "fixed":
        lens = [word_count(s) for s in sents]
        for prompt, n in zip(prompts, lens):
            if n == 0:
                raise ValueError(f"prompt {prompt!r} has no words left after GLoRIA's text cleaning")
        return lens
    if mode != "released":
        raise ValueError(f"zero_shot mode must be one of {ZERO_SHOT_MODES}, got {mode!r}")
    lens = [released_cap_len(p) for p in prompts]
    for prompt, n in zip(prompts, lens):
        if n > n_slots - 1:
            raise ValueError(
                f"prompt {prompt!r} has {n} characters: the released code reads word slots 1..{n}, which "
                f"breaks beyond {n_slots - 1} (it raises or mixes feature dimensions); use zero_shot=fixed"
            )
        if n == 0:
            raise ValueError("an empty prompt has no words to score")
    return lens


def zero_shot_local_similarities(img_emb_l: torch.Tensor, text_emb_l: torch.Tensor,
                                 cap_lens: Sequence[int] | torch.Tensor) -> torch.Tensor:
    """[B images, N texts] = log max_t exp(5 R) = 5 * max_t R over word slots 1..cap_lens[i] ([CLS] skipped)."""
    sim, _, mask = word_region_alignment(img_emb_l, text_emb_l, cap_lens, temp1=4.0, start=1)
    return 5.0 * sim.masked_fill(~mask[None], float("-inf")).amax(dim=2)


def zero_shot_global_similarities(img_emb_g: torch.Tensor, text_emb_g: torch.Tensor) -> torch.Tensor:
    """[B, N] cosine of global vectors (scikit-learn semantics: a zero vector gives 0)."""
    return F.normalize(img_emb_g, dim=1) @ F.normalize(text_emb_g, dim=1).t()


def zero_shot_similarities(img_emb_l: torch.Tensor, img_emb_g: torch.Tensor, text_emb_l: torch.Tensor,
                           text_emb_g: torch.Tensor, cap_lens: Sequence[int] | torch.Tensor) -> torch.Tensor:
    """Upstream `get_similarities(..., "both")`: (local + global) / 2, on different scales ([0, 5] vs [-1, 1])."""
    local = zero_shot_local_similarities(img_emb_l, text_emb_l, cap_lens)
    return (local + zero_shot_global_similarities(img_emb_g, text_emb_g)) / 2


def batch_zscore(scores: torch.Tensor) -> torch.Tensor:
    """Upstream `utils.normalize`: each column minus its mean over rows, over the population std."""
    return (scores - scores.mean(dim=0)) / scores.std(dim=0, unbiased=False)


def class_scores(similarities: torch.Tensor, class_prompts: torch.Tensor, mode: ZeroShotMode) -> torch.Tensor:
    """[B, C] class scores from prompt similarities [B, P] and a [C, P] bool mask of each class's prompts.

    released: max over the class's prompts, then z-scored over the B images when B > 1 (upstream);
    fixed: mean over the class's prompts, each image scored on its own.
    """
    mask = class_prompts.to(device=similarities.device, dtype=torch.bool)
    if mask.ndim != 2 or mask.shape[1] != similarities.shape[1]:
        raise ValueError(f"class/prompt mask {tuple(mask.shape)} does not fit {similarities.shape[1]} prompts")
    empty = (~mask.any(dim=1)).nonzero().flatten().tolist()
    if empty:
        raise ValueError(f"classes {empty} have no prompts")
    expanded = similarities[:, None, :]  # [B, 1, P]
    if mode == "released":
        scores = expanded.masked_fill(~mask[None], float("-inf")).amax(dim=2)
        return batch_zscore(scores) if scores.shape[0] > 1 else scores
    if mode == "fixed":
        return (expanded * mask[None]).sum(dim=2) / mask.sum(dim=1)[None]
    raise ValueError(f"zero_shot mode must be one of {ZERO_SHOT_MODES}, got {mode!r}")
