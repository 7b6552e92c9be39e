"""GLoRIA zero-shot similarities and class scores: `released` against the upstream vectors, `fixed` against
an independent numpy computation.

What the reference's `*_wordcount` arrays encode: upstream's computation with only the word length fixed
(still max over prompts and z-scoring over the images). Our `fixed` mode shares the local/global/combined
similarities with them, and differs in the class aggregation (mean over prompts, no z-scoring).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gloria_helpers import load_gloria_reference
from msxr_bench.models.gloria_zero_shot import (
    class_scores,
    zero_shot_cap_lens,
    zero_shot_global_similarities,
    zero_shot_local_similarities,
    zero_shot_similarities,
)

TOL = 1e-6


def t(key: str) -> torch.Tensor:
    return torch.from_numpy(load_gloria_reference()[key].copy())


def err(actual: torch.Tensor, key: str) -> float:
    expected = load_gloria_reference()[key]
    assert tuple(actual.shape) == expected.shape
    return float(np.max(np.abs(actual.numpy() - expected)))


@pytest.mark.parametrize("mode, variant", [("released", "charcount"), ("fixed", "wordcount")])
def test_cap_lens_per_mode(mode, variant):
    ref = load_gloria_reference()
    lens = zero_shot_cap_lens(list(ref["zs_prompts"]), [list(s) for s in ref["zs_sents"]], mode)
    assert lens == ref[f"zs_cap_lens_{variant}"].tolist()


@pytest.mark.parametrize("variant", ["charcount", "wordcount"])
def test_local_and_combined_similarities_match_upstream(variant):
    lens = t(f"zs_cap_lens_{variant}").tolist()
    local = zero_shot_local_similarities(t("zs_img_emb_l"), t("zs_text_emb_l"), lens)
    assert err(local, f"zs_local_sim_{variant}") < TOL
    combined = zero_shot_similarities(t("zs_img_emb_l"), t("zs_img_emb_g"), t("zs_text_emb_l"), t("zs_text_emb_g"), lens)
    assert err(combined, f"zs_combined_{variant}") < TOL


def test_released_local_score_is_floored_at_zero_by_padding_slots():
    # character counts pull zero word vectors into the slice; their cosine is 0, so the max is >= 0
    local = zero_shot_local_similarities(-t("zs_img_emb_l"), t("zs_text_emb_l"), t("zs_cap_lens_charcount").tolist())
    assert (local >= 0).all()


def test_global_similarity_matches_upstream():
    assert err(zero_shot_global_similarities(t("zs_img_emb_g"), t("zs_text_emb_g")), "zs_global_sim") < TOL


@pytest.mark.parametrize("variant", ["charcount", "wordcount"])
def test_released_class_scores_max_then_batch_zscore_match_upstream(variant):
    scores = class_scores(t(f"zs_combined_{variant}"), t("zs_class_prompt_mask"), "released")
    assert err(scores, f"zs_class_scores_{variant}") < TOL


def test_fixed_class_scores_are_prompt_means_and_not_transductive():
    ref = load_gloria_reference()
    combined, mask = ref["zs_combined_wordcount"], ref["zs_class_prompt_mask"]
    expected = np.stack([combined[:, m].mean(axis=1) for m in mask], axis=1)
    scores = class_scores(torch.from_numpy(combined), torch.from_numpy(mask), "fixed")
    assert np.max(np.abs(scores.numpy() - expected)) < 1e-12
    single = class_scores(torch.from_numpy(combined[:1]), torch.from_numpy(mask), "fixed")
    assert torch.equal(single[0], scores[0])  # an image's score does not depend on the others
    released_first = class_scores(torch.from_numpy(combined[:2]), torch.from_numpy(mask), "released")[0]
    released_all = class_scores(torch.from_numpy(combined), torch.from_numpy(mask), "released")[0]
    assert not torch.allclose(released_first, released_all)  # whereas released z-scores over the batch


def test_released_mode_refuses_prompts_the_upstream_slice_breaks_on():
    long_prompt = "severe cardiomegaly with " + "x" * 80
    with pytest.raises(ValueError, match="use zero_shot=fixed"):
        zero_shot_cap_lens([long_prompt], [["[CLS]", "severe", "[SEP]"]], "released")
    with pytest.raises(ValueError, match="no words left"):
        zero_shot_cap_lens(["pneumonia"], [["[CLS]", "[SEP]"]], "fixed")
