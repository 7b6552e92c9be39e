"""Captions for training: sentence splitting of MIMIC sections, per-recipe sampling, whole-word masking,
and the corpus vocabulary (deterministic, never a bare [UNK], read the same by the slow tokenizer)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import torch
from transformers import BertTokenizer

from msxr_bench.training.text import sample_caption, split_sentences, whole_word_mask
from msxr_bench.training.vocab import build_vocab, write_tokenizer

IMPRESSION = " 1. Enlarged cardiac silhouette.\n 2. Small right pleural effusion.\n No evidence of pneumonia."


def test_split_sentences_drops_list_markers_and_keeps_decimals():
    assert split_sentences(IMPRESSION) == [
        "Enlarged cardiac silhouette.", "Small right pleural effusion.", "No evidence of pneumonia."]
    assert split_sentences("Tube tip 2.5 cm above the carina.  ___ .") == ["Tube tip 2.5 cm above the carina."]


def test_one_sentence_is_uniform_over_the_sentences():
    sentences = split_sentences(IMPRESSION)
    rng = np.random.default_rng(0)
    counts = Counter(sample_caption(sentences, "one_sentence", rng) for _ in range(3000))
    assert set(counts) == set(sentences)
    assert all(abs(c / 3000 - 1 / 3) < 0.04 for c in counts.values())


def test_shuffled_section_keeps_every_sentence_and_shuffles_half_the_time():
    sentences = split_sentences(IMPRESSION)
    rng = np.random.default_rng(1)
    captions = [sample_caption(sentences, "shuffled_section", rng, shuffle_probability=0.5) for _ in range(2000)]
    assert all(sorted(split_sentences(c)) == sorted(sentences) for c in captions)
    in_order = sum(c == " ".join(sentences) for c in captions) / len(captions)
    assert abs(in_order - (0.5 + 0.5 / 6)) < 0.04  # unshuffled, or shuffled into the same order (1 of 3!)


def _words_and_ids(tokenizer, text):
    enc = tokenizer([text], return_tensors="pt")
    return enc["input_ids"], [enc.word_ids(0)]


def test_whole_word_mask_masks_all_pieces_of_a_word_together(tmp_path):
    tokenizer = write_tokenizer(build_vocab(["left lung"] * 3), tmp_path)
    text = "left tunnel lung"  # 'tunnel' is not in the vocabulary: character pieces
    ids, word_ids = _words_and_ids(tokenizer, text)
    assert len(set(w for w in word_ids[0] if w is not None)) == 3 and ids.shape[1] > 5
    seen_masked_word = False
    for seed in range(200):
        masked, labels = whole_word_mask(ids, word_ids, np.random.default_rng(seed), tokenizer.mask_token_id,
                                         len(tokenizer), 0.3, tokenizer.all_special_ids)
        predicted = labels[0] != -100
        for w in {w for w in word_ids[0] if w is not None}:
            positions = torch.tensor([x == w for x in word_ids[0]])
            chosen = predicted[positions]
            assert chosen.all() or not chosen.any()
            seen_masked_word |= bool(chosen.all())
        assert torch.equal(labels[0][predicted], ids[0][predicted])
        assert not predicted[0] and not predicted[-1]  # [CLS] and [SEP] never predicted
        assert torch.equal(masked[0][~predicted], ids[0][~predicted])
    assert seen_masked_word


def test_whole_word_mask_rate_and_replacement_split(tmp_path):
    words = [f"w{i}" for i in range(60)]
    tokenizer = write_tokenizer(build_vocab([" ".join(words)], min_count=1), tmp_path)
    ids, word_ids = _words_and_ids(tokenizer, " ".join(words))
    rng = np.random.default_rng(0)
    chosen = as_mask = 0
    for _ in range(200):
        masked, labels = whole_word_mask(ids, word_ids, rng, tokenizer.mask_token_id, len(tokenizer), 0.15,
                                         tokenizer.all_special_ids)
        predicted = labels[0] != -100
        chosen += int(predicted.sum())
        as_mask += int((masked[0][predicted] == tokenizer.mask_token_id).sum())
    assert abs(chosen / (200 * 60) - 0.15) < 0.015
    assert abs(as_mask / chosen - 0.8) < 0.03


def test_vocabulary_is_deterministic_and_read_alike_by_fast_and_slow_tokenizers(tmp_path):
    corpus = ["Small left pleural effusion.", "No pneumothorax.", "Small left apical pneumothorax!", "Mild edema."]
    assert build_vocab(corpus) == build_vocab(list(corpus))
    vocab = build_vocab(corpus, min_count=2)
    assert vocab[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert "pneumothorax" in vocab and "effusion" not in vocab and "##f" in vocab
    fast = write_tokenizer(vocab, tmp_path)
    slow = BertTokenizer.from_pretrained(str(tmp_path))
    for text in corpus + ["Large right effusion, likely atelectasis."]:
        assert fast(text)["input_ids"] == slow(text)["input_ids"]
    assert fast.unk_token_id not in fast("Small effusion")["input_ids"]  # unseen words become characters
