"""NLI fine-tuning: batching, the classification head, the loop's selection and determinism, learning."""

from __future__ import annotations


import pytest
import torch
from transformers import BertForSequenceClassification

from msxr_bench.data.types import NLI_LABELS, NLIPair
from msxr_bench.training.nli_batches import bucketed_batches, collate, encode_pairs, sorted_batches
from msxr_bench.training.nli_finetune import (
    NLIClassifier, NLIFinetuneConfig, base_encoder, finetune_nli, predict_nli, save_nli_model,
)
from radnli_toy import ToyTextAdapter, tiny_config, tiny_tokenizer, toy_pairs



pytestmark = pytest.mark.usefixtures("one_torch_thread")


LEARN = NLIFinetuneConfig(learning_rate=2e-3, batch_size=16, max_epochs=8, patience=8, max_length=32)


def _gold(pairs: list[NLIPair]) -> torch.Tensor:
    return torch.tensor([NLI_LABELS.index(p.label) for p in pairs])


def test_bucketed_batches_cover_every_pair_once_sorted_within_buckets_and_seeded():
    lengths = [(7 * i) % 23 + 3 for i in range(203)]
    batches = bucketed_batches(lengths, 8, torch.Generator().manual_seed(1), bucket_batches=4)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(203))
    assert all(1 <= len(b) <= 8 for b in batches)
    for b in batches:  # each batch is a slice of a length-sorted bucket
        assert [lengths[i] for i in b] == sorted(lengths[i] for i in b)
    again = bucketed_batches(lengths, 8, torch.Generator().manual_seed(1), bucket_batches=4)
    other = bucketed_batches(lengths, 8, torch.Generator().manual_seed(2), bucket_batches=4)
    assert again == batches and other != batches
    # bucketing cuts padding: summed batch widths well below those of unsorted batches of the same size
    perm = torch.randperm(203, generator=torch.Generator().manual_seed(1)).tolist()
    unsorted = sum(max(lengths[i] for i in perm[s:s + 8]) for s in range(0, 203, 8))
    assert sum(max(lengths[i] for i in b) for b in batches) < 0.8 * unsorted
    ev = sorted_batches(lengths, 8)
    assert [lengths[i] for b in ev for i in b] == sorted(lengths)


def test_collate_equals_the_tokenizers_own_padding(tmp_path):
    tok = tiny_tokenizer(tmp_path)
    pairs = toy_pairs(5, seed=3)
    enc = encode_pairs(tok, pairs, max_length=32)
    batch = collate(enc, [4, 0, 2])
    ref = tok([pairs[i].premise for i in (4, 0, 2)], [pairs[i].hypothesis for i in (4, 0, 2)],
              padding=True, return_tensors="pt")
    for key in ("input_ids", "attention_mask", "token_type_ids"):
        assert torch.equal(batch[key], ref[key]), key
    assert batch["labels"].tolist() == [NLI_LABELS.index(pairs[i].label) for i in (4, 0, 2)]
    short = encode_pairs(tok, pairs, max_length=6)
    assert max(short.lengths) == 6


def test_a_label_outside_the_three_names_the_source_and_pair(tmp_path):
    tok = tiny_tokenizer(tmp_path)
    bad = [NLIPair("p7", "left effusion .", "no effusion", "Contradiction")]
    with pytest.raises(ValueError, match=r"mli_train_v1.jsonl: pair 'p7' has label 'Contradiction'"):
        encode_pairs(tok, bad, 32, source="mli_train_v1.jsonl")


def test_pooler_head_equals_bert_for_sequence_classification(tmp_path):
    tok = tiny_tokenizer(tmp_path)
    config = tiny_config(tok)
    config.num_labels = 3
    torch.manual_seed(0)
    ref = BertForSequenceClassification(config).eval()
    ours = NLIClassifier(ref.bert, pooling="pooler").eval()
    ours.classifier.load_state_dict(ref.classifier.state_dict())
    batch = tok(["there is a large left effusion .", "no edema"], ["left effusion", "edema is present"],
                padding=True, return_tensors="pt")
    with torch.no_grad():
        assert torch.allclose(ours(**batch), ref(**batch).logits, atol=1e-6)


def test_cls_head_of_a_masked_lm_reads_the_last_cls_state(tmp_path):
    adapter = ToyTextAdapter(tmp_path, masked_lm=True)
    mlm, tok = adapter.text_encoder_for_finetuning()
    assert base_encoder(mlm) is mlm.bert
    head = NLIClassifier(base_encoder(mlm)).eval()
    batch = tok(["small right pneumothorax ."], ["no pneumothorax"], return_tensors="pt")
    with torch.no_grad():
        cls = mlm(**batch, output_hidden_states=True).hidden_states[-1][:, 0]
        expected = cls @ head.classifier.weight.T + head.classifier.bias
        assert torch.allclose(head(**batch), expected, atol=1e-6)
    with pytest.raises(ValueError, match="no pooler"):
        NLIClassifier(base_encoder(mlm), pooling="pooler")


def test_tiny_bert_learns_the_toy_world_beyond_the_majority_baseline(tmp_path):
    adapter = ToyTextAdapter(tmp_path)
    encoder, tok = adapter.text_encoder_for_finetuning()
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    train, dev, test = toy_pairs(600, seed=1), toy_pairs(150, seed=2), toy_pairs(150, seed=3)
    run = finetune_nli(encoder, tok, train, dev, LEARN, seed=0, progress=False)
    pred = predict_nli(run, tok, test, LEARN)
    gold = _gold(test)
    majority = max((gold == k).float().mean().item() for k in range(3))
    accuracy = (pred == gold).float().mean().item()
    assert majority < 0.45 and accuracy > majority + 0.25, (accuracy, majority, run.history)
    # the kept model is the best dev epoch's, not the last one's
    dev_acc = (predict_nli(run, tok, dev, LEARN) == _gold(dev)).float().mean().item()
    assert dev_acc == run.best_dev_accuracy == max(h["dev_accuracy"] for h in run.history)
    # the adapter's encoder is untouched: same weights, still frozen, still in eval mode
    after = encoder.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not any(p.requires_grad for p in encoder.parameters()) and not encoder.training


def test_same_seed_same_run_other_seed_other_run(tmp_path):
    encoder, tok = ToyTextAdapter(tmp_path).text_encoder_for_finetuning()
    train, dev = toy_pairs(200, seed=1), toy_pairs(60, seed=2)
    cfg = NLIFinetuneConfig(learning_rate=2e-3, max_epochs=2, patience=2, max_length=32)
    a, b, c = (finetune_nli(encoder, tok, train, dev, cfg, seed=s, progress=False) for s in (5, 5, 6))
    strip = lambda run: [{k: v for k, v in h.items() if k != "seconds"} for h in run.history]  # noqa: E731
    assert strip(a) == strip(b)
    assert all(torch.equal(x, y) for x, y in zip(a.model.state_dict().values(), b.model.state_dict().values()))
    assert strip(a) != strip(c)


def test_early_stopping_keeps_the_first_best_epoch(tmp_path):
    encoder, tok = ToyTextAdapter(tmp_path).text_encoder_for_finetuning()
    frozen = NLIFinetuneConfig(learning_rate=0.0, max_epochs=10, patience=2, max_length=32, warmup_ratio=0.0)
    run = finetune_nli(encoder, tok, toy_pairs(40, 1), toy_pairs(20, 2), frozen, seed=0, progress=False)
    # lr 0: dev accuracy never changes, so epochs 2 and 3 are not better and training stops after 3
    assert [h["epoch"] for h in run.history] == [1, 2, 3]
    assert run.best_epoch == 1 and run.stopped_early
    assert len({h["dev_accuracy"] for h in run.history}) == 1


def test_saved_model_reloads_to_the_same_predictions(tmp_path):
    from safetensors.torch import load_file

    encoder, tok = ToyTextAdapter(tmp_path).text_encoder_for_finetuning()
    cfg = NLIFinetuneConfig(learning_rate=2e-3, max_epochs=1, max_length=32)
    dev = toy_pairs(30, 2)
    run = finetune_nli(encoder, tok, toy_pairs(64, 1), dev, cfg, seed=0, progress=False)
    expected = predict_nli(run, tok, dev, cfg)
    out = save_nli_model(run, tok, cfg, tmp_path / "saved")
    assert {"model.safetensors", "config.json", "vocab.txt", "nli_head.json"} <= {p.name for p in out.iterdir()}
    fresh = NLIClassifier(base_encoder(ToyTextAdapter(tmp_path, seed=9).text_model))
    fresh.load_state_dict(load_file(str(out / "model.safetensors")))
    run.model = fresh.eval()
    assert torch.equal(predict_nli(run, tok, dev, cfg), expected)
