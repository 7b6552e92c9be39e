"""GLoRIA's text path (cleaning, tokenisation, sub-word merging, layer sums) against the upstream vectors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import BertConfig, BertModel, BertTokenizer

from gloria_helpers import load_gloria_reference, write_stub_vocab
from msxr_bench.models.gloria_text import (
    GloriaTextEncoder,
    clean_report_text,
    embeddings_from_hidden,
    merge_word_pieces,
    released_cap_len,
    word_count,
)


@pytest.fixture(scope="module")
def stub_tokenizer(tmp_path_factory) -> BertTokenizer:
    vocab = write_stub_vocab(tmp_path_factory.mktemp("stub_vocab"))
    return BertTokenizer(str(vocab), do_lower_case=True)


def test_cleaning_follows_process_text():
    text = "1. Small left pleural effusion.2. No pneumothorax. Stable.\nHeart size normal, café-au-lait"
    # "Stable" alone is dropped (<= 1 token), non-ASCII letters are removed from tokens
    assert clean_report_text(text) == "small left pleural effusion no pneumothorax heart size normal caf au lait"
    assert clean_report_text("Pneumothorax.") == ""
    assert clean_report_text("Pneumothorax.", min_sentence_tokens=1) == "pneumothorax"


def test_tokenisation_of_cleaned_prompts_matches_upstream(stub_tokenizer):
    ref = load_gloria_reference()
    cleaned = [clean_report_text(p) for p in ref["zs_prompts"]]
    enc = stub_tokenizer(cleaned, truncation=True, padding="max_length", max_length=97)
    assert np.array_equal(np.array(enc["input_ids"]), ref["zs_caption_ids"])
    tokens = [stub_tokenizer.convert_ids_to_tokens(row) for row in enc["input_ids"]]
    assert np.array_equal(np.array(tokens), ref["zs_processed_text_tokens"])


def test_caption_lengths_released_counts_characters_fixed_counts_words():
    ref = load_gloria_reference()
    assert [released_cap_len(p) for p in ref["zs_prompts"]] == ref["zs_cap_lens_charcount"].tolist()
    assert [word_count(list(s)) for s in ref["zs_sents"]] == ref["zs_cap_lens_wordcount"].tolist()
    assert word_count(["[CLS]", "no", "[UNK]", "seen", "[SEP]", "[PAD]"]) == 3


def test_merged_words_and_embeddings_match_upstream_aggregate_tokens():
    ref = load_gloria_reference()
    hidden = torch.from_numpy(ref["agg_hidden_states_last4"])
    words, sent, sents = embeddings_from_hidden(hidden, [list(r) for r in ref["agg_tokens"]])
    assert np.array_equal(np.array(sents), ref["agg_sents"])
    assert [sum(w != "[PAD]" for w in s) for s in sents] == ref["agg_num_slots_used"].tolist()
    assert np.max(np.abs(words.numpy() - ref["agg_word_embeddings"])) < 1e-12
    assert np.max(np.abs(sent.numpy() - ref["agg_sent_embeddings"])) < 1e-12


def test_merge_walk_edge_cases():
    assert merge_word_pieces(["[CLS]", "eff", "##usion", "[SEP]", "x"]) == ([0, 1, 1, 2, -1], ["[CLS]", "effusion", "[SEP]"])
    # no [SEP]: upstream never flushes the open word
    assert merge_word_pieces(["[CLS]", "a", "b", "##c"]) == ([0, 1, -1, -1], ["[CLS]", "a"])
    assert merge_word_pieces(["##x", "a", "[SEP]"]) == ([0, 1, 2], ["x", "a", "[SEP]"])


def test_encoder_reads_the_last_four_bert_layers(stub_tokenizer):
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(stub_tokenizer), hidden_size=32, num_hidden_layers=5, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    bert = BertModel(config, add_pooling_layer=False).eval()
    encoder = GloriaTextEncoder(bert, stub_tokenizer)
    batch = encoder.tokenize(["Findings suggesting pneumonia.", "small left pleural effusion"])
    with torch.no_grad():
        words, sent, sents = encoder(**batch)
        hidden = bert(**batch, output_hidden_states=True).hidden_states
    assert sents[0][:5] == ["[CLS]", "findings", "suggesting", "pneumonia", "[SEP]"]
    last4 = torch.stack(hidden[-4:]).sum(dim=0)  # [N, L, D]
    assert torch.allclose(words[0, :, 2], last4[0, 2] + last4[0, 3], atol=1e-5)  # suggest + ##ing
    assert torch.allclose(words[1, :, 4], last4[1, 4] + last4[1, 5], atol=1e-5)  # eff + ##usion
    assert torch.allclose(words[1, :, 5], last4[1, 6], atol=1e-5)  # [SEP] of caption 2, in slot 5
    assert torch.all(words[1, :, 6:] == 0)
    assert torch.allclose(sent, words.sum(dim=2) / 97, atol=1e-5)
