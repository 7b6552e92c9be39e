"""GLoRIA's loss math against vectors produced by the upstream code (marshuang80/gloria @ 416466a)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gloria_helpers import load_gloria_reference
from msxr_bench.models.gloria_attention import (
    attention_fn,
    cosine_similarity,
    global_loss,
    global_scores,
    local_loss,
    local_scores,
    training_cap_lens,
    word_region_alignment,
)

TOL = 1e-6  # the bar; float64 inputs actually agree to ~1e-13


def t(key: str) -> torch.Tensor:
    return torch.from_numpy(load_gloria_reference()[key].copy())


def close(actual: torch.Tensor, key: str, tol: float = TOL) -> float:
    expected = load_gloria_reference()[key]
    err = float(np.max(np.abs(actual.detach().numpy() - expected)))
    assert actual.shape == expected.shape, key
    assert err <= tol * max(1.0, float(np.max(np.abs(expected)))), f"{key}: max abs error {err}"
    return err


def test_cosine_similarity_matches_upstream_and_zero_vector_gives_zero():
    out = cosine_similarity(t("cos_x1"), t("cos_x2"))
    close(out, "cos_sim")
    assert out[-1] == 0.0


def test_attention_fn_double_softmax_matches_upstream():
    weighted, attn = attention_fn(t("attn_query"), t("attn_context"), float(t("attn_temp1")))
    close(weighted, "attn_weighted_context")
    close(attn, "attn_attn")
    assert torch.allclose(attn.sum(dim=(2, 3)), torch.ones(3, 7, dtype=torch.float64))


def test_masked_word_columns_equal_the_unpadded_call():
    query, context = t("attn_query"), t("attn_context")
    padded = torch.cat([query, torch.randn(3, 768, 4, dtype=torch.float64)], dim=2)
    mask = torch.zeros(3, 11, dtype=torch.bool)
    mask[:, :7] = True
    w_pad, a_pad = attention_fn(padded, context, 4.0, word_mask=mask)
    close(w_pad[:, :, :7], "attn_weighted_context")
    close(a_pad[:, :7], "attn_attn")


@pytest.mark.parametrize("variant, agg", [("local", "sum"), ("local_mean", "mean"), ("local_alt", "sum")])
def test_local_loss_scores_and_maps_match_upstream(variant, agg):
    temps = [float(x) for x in t(f"{variant}_temps")]
    cap_lens = t("local_cap_lens").tolist()
    loss0, loss1, maps = local_loss(t("local_img_features"), t("local_words_emb"), cap_lens, *temps, agg=agg)
    scores, _ = local_scores(t("local_img_features"), t("local_words_emb"), cap_lens, *temps, agg=agg)
    close(loss0, f"{variant}_loss0")
    close(loss1, f"{variant}_loss1")
    close(scores, f"{variant}_scores")
    if variant == "local":
        for i, m in enumerate(maps):
            close(m, f"local_attn_map_{i}")


def test_local_scores_do_not_depend_on_text_chunking():
    args = (t("local_img_features"), t("local_words_emb"), t("local_cap_lens").tolist())
    full = word_region_alignment(*args, text_chunk=16)[0]
    one_by_one = word_region_alignment(*args, text_chunk=1)[0]
    assert torch.allclose(full, one_by_one, rtol=0, atol=1e-12)


@pytest.mark.parametrize("variant", ["global", "global_alt"])
def test_global_loss_matches_upstream(variant):
    temp3 = float(t(f"{variant}_temp3"))
    loss0, loss1 = global_loss(t("global_cnn_code"), t("global_rnn_code"), temp3=temp3)
    close(loss0, f"{variant}_loss0")
    close(loss1, f"{variant}_loss1")
    close(global_scores(t("global_cnn_code"), t("global_rnn_code"), temp3), f"{variant}_scores")


def test_training_chain_on_merged_words_matches_upstream():
    ref = load_gloria_reference()
    cap_lens = training_cap_lens([list(s) for s in ref["agg_sents"]])
    assert cap_lens == ref["agg_cap_lens_train_rule"].tolist()
    loss0, loss1, _ = local_loss(t("train_img_emb_l"), t("agg_word_embeddings"), cap_lens)
    close(loss0, "train_local_loss0")
    close(loss1, "train_local_loss1")
    close(local_scores(t("train_img_emb_l"), t("agg_word_embeddings"), cap_lens)[0], "train_local_scores")


def test_local_loss_is_differentiable_in_float32():
    img = t("local_img_features").float().requires_grad_()
    words = t("local_words_emb").float().requires_grad_()
    loss0, loss1, _ = local_loss(img, words, t("local_cap_lens").tolist())
    (loss0 + loss1).backward()
    assert torch.isfinite(img.grad).all() and img.grad.abs().sum() > 0
    assert words.grad[:, :, 7:].abs().sum() == 0  # columns past every cap_len are never read
    close(loss0.detach().double(), "local_loss0", tol=1e-5)


def test_zero_words_is_a_clear_error():
    with pytest.raises(ValueError, match="at least one word"):
        local_scores(t("local_img_features"), t("local_words_emb"), [3, 0, 2, 2])


def test_alignment_math_ignores_autocast_and_promotes_half_inputs():
    img, words = t("local_img_features").float(), t("local_words_emb").float()
    lens = t("local_cap_lens").tolist()
    reference = local_scores(img, words, lens)[0]
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        autocast = local_scores(img, words, lens)[0]
        g = global_scores(t("global_cnn_code").float(), t("global_rnn_code").float())
    assert autocast.dtype == torch.float32 and torch.allclose(autocast, reference, rtol=1e-6)
    assert g.dtype == torch.float32
    halved = local_scores(img.half() * 100, words.half() * 100, lens)[0]  # 768-d squared norms overflow fp16
    assert halved.dtype == torch.float32 and torch.isfinite(halved).all()
