"""`text-intrinsics` (BioViL paper Table 3): masking by hand, accuracy against the model's own full forward pass,
word and token counts against an independent split, and the claim that the committed tiny CXR-BERT (trained by the
`cxr-bert` recipe) predicts masked report tokens far better than its initialisation and than always guessing the
most frequent token."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import BertConfig, BertForMaskedLM

from msxr_bench.adapters.registry import build_adapter
from msxr_bench.tasks.text.intrinsics import masked_report
from msxr_bench.training.recipes import init_checkpoint
from msxr_bench.training.vocab import build_vocab, write_tokenizer
from task_helpers import run_named

CXR_BERT = Path(__file__).resolve().parents[1] / "fixtures" / "models" / "tiny-cxr-bert"
TEXT = "Mild left basilar opacity, likely atelectasis. No pneumothorax."


def _tokenizer(tmp: Path, corpus: list[str]):
    return write_tokenizer(build_vocab(corpus, min_count=1), tmp)


def test_whole_word_masking_chooses_the_same_words_for_every_vocabulary(tmp_path: Path) -> None:
    words = ["mild", "left", "basilar", "opacity", ",", "likely", "atelectasis", ".", "no", "pneumothorax", "."]
    big = _tokenizer(tmp_path / "big", [TEXT, TEXT])  # every word in the vocabulary
    small = _tokenizer(tmp_path / "small", ["no opacity ."])  # most words become characters
    for tok in (big, small):
        ids, labels, cut = masked_report(TEXT, tok, np.random.default_rng(3), 0.3, "whole_word", 512)
        assert ids[0] == tok.cls_token_id and ids[-1] == tok.sep_token_id and cut == 0
        pieces = [tok.tokenize(w) for w in words]
        chosen = np.random.default_rng(3).random(len(words)) < 0.3
        expected = [t for w, c, p in zip(words, chosen, pieces) if c for t in tok.convert_tokens_to_ids(p)]
        assert [t for t in labels if t != -100] == expected
        assert all(i == tok.mask_token_id for i, t in zip(ids, labels) if t != -100)
    ids, labels, cut = masked_report(TEXT, small, np.random.default_rng(3), 0.3, "whole_word", 8)
    assert len(ids) == 8 and cut == len(small.tokenize(TEXT)) - 6


@pytest.fixture(scope="module")
def intrinsics(toyworld_root: Path, tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("intrinsics")
    trained = build_adapter("cxr-bert", text_model=str(CXR_BERT))
    init = build_adapter("cxr-bert", text_model=str(init_checkpoint("cxr-bert", "tiny", 0, CXR_BERT, tmp / "init")))
    run = lambda a: run_named("text-intrinsics", {"split": "test"}, adapter=a, data_root=toyworld_root,  # noqa: E731
                              n_bootstrap=300)
    return trained, run(trained), run(init)


def test_accuracy_equals_the_model_forward_and_counts_an_independent_split(intrinsics, toyworld_root: Path) -> None:
    from msxr_bench.data.mimic import find_mimic_roots, load_mimic_pairs

    adapter, result, _ = intrinsics
    model, tok = adapter.masked_lm()
    rows = {r["sample_id"]: r for r in result.samples}
    jpg, reports = find_mimic_roots(toyworld_root)
    pairs = {f"s{p.study_id}": p for p in load_mimic_pairs(jpg, reports, "test", frontal_only=False, section=None,
                                                           check_images=False)[0]}
    assert result.dataset.split == "test" and set(rows) == set(pairs) and len(rows) > 40  # one row per test report
    import zlib

    for sid in sorted(rows)[:6]:
        sections = pairs[sid].sections
        text = " ".join(sections[s].strip() for s in ("findings", "impression") if sections.get(s))
        ids, labels, _ = masked_report(text, tok, np.random.default_rng([0, zlib.crc32(sid[1:].encode())]), 0.15,
                                       "whole_word", 128)
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ids])).logits[0]
        where = torch.tensor(labels) != -100
        assert rows[sid]["n_masked"] == int(where.sum())
        assert rows[sid]["n_correct"] == int((logits[where].argmax(-1) == torch.tensor(labels)[where]).sum())
        findings = sections["findings"]
        assert rows[sid]["n_words_findings"] == len(re.findall(r"\w+|[^\w\s]", findings))
        assert rows[sid]["n_tokens_findings"] == len(tok(findings, add_special_tokens=False)["input_ids"])
    total = sum(r["n_masked"] for r in rows.values())
    assert result.metrics["masked_token_accuracy"].value == pytest.approx(
        sum(r["n_correct"] for r in rows.values()) / total)
    assert result.metrics["vocabulary_size"].value == len((CXR_BERT / "vocab.txt").read_text().splitlines())
    with_findings = [r for sid, r in rows.items() if pairs[sid].sections.get("findings")]
    assert 0 < len(with_findings) < len(rows)  # reports without a Findings section count as no row of the average
    assert all(r["n_words_findings"] is None for r in rows.values() if r not in with_findings)
    words = np.mean([r["n_words_findings"] for r in with_findings])
    tokens = np.mean([r["n_tokens_findings"] for r in with_findings])
    assert result.metrics["token_increase_percent"].value == pytest.approx(100 * (tokens / words - 1))


def test_trained_cxr_bert_beats_its_init_and_the_most_frequent_token(intrinsics) -> None:
    _, trained, init = intrinsics
    acc = trained.metrics["masked_token_accuracy"]
    for other in (init.metrics["masked_token_accuracy"], trained.metrics["most_frequent_token_accuracy"]):
        assert acc.ci.low > other.ci.high, (acc, other)


def test_a_plain_bert_folder_is_a_text_model_without_a_joint_space(toyworld_root: Path, tmp_path: Path) -> None:
    tok = _tokenizer(tmp_path, [TEXT] * 2)
    torch.manual_seed(0)
    BertForMaskedLM(BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                               intermediate_size=64, max_position_embeddings=256)).save_pretrained(str(tmp_path))
    adapter = build_adapter("cxr-bert", text_model=str(tmp_path))
    assert adapter.capabilities == {"text_encoder", "mlm"} and adapter.meta.embedding_dim is None
    result = run_named("text-intrinsics", {}, adapter=adapter, data_root=toyworld_root, n_bootstrap=0)
    assert result.metrics["vocabulary_size"].value == len(tok) and result.dataset.split == "validate"
