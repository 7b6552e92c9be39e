"""ConVIRT model and adapter: pooling, frozen layers, the point-wise grounding head, checkpoint round trip."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from transformers import BertConfig

from msxr_bench.adapters.convirt import build_convirt
from msxr_bench.adapters.convirt_checkpoint import save_convirt_checkpoint
from msxr_bench.adapters.registry import build_adapter
from msxr_bench.adapters.weights import WeightsUnavailableError
from msxr_bench.models.convirt import ConvirtConfig, ConvirtModel, pool_tokens
from msxr_bench.training.vocab import build_vocab, write_tokenizer

CORPUS = ["Small left pleural effusion.", "No pneumothorax.", "Mild pulmonary edema.", "Right lower lobe pneumonia."]


def _tiny(pooling: str = "max", frozen_layers: int = 0, **kw) -> ConvirtModel:
    torch.manual_seed(0)
    config = ConvirtConfig(resnet_depth=10, resnet_width=8, dilate_layer4=True, embedding_dim=16, pooling=pooling,
                           frozen_layers=frozen_layers, max_text_tokens=32, resize=64, crop=64, **kw)
    bert = BertConfig(vocab_size=80, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                      max_position_embeddings=32)
    return ConvirtModel(config, bert).eval()


def test_pooling_over_real_tokens_only():
    hidden = torch.tensor([[[1.0, -5.0], [3.0, 2.0], [9.0, 9.0]]])  # the third token is padding
    mask = torch.tensor([[1, 1, 0]])
    assert pool_tokens(hidden, mask, "max").tolist() == [[3.0, 2.0]]
    assert pool_tokens(hidden, mask, "mean").tolist() == [[2.0, -1.5]]
    assert pool_tokens(hidden, mask, "cls").tolist() == [[1.0, -5.0]]


def test_paper_defaults():
    c = ConvirtConfig()
    assert (c.resnet_depth, c.embedding_dim, c.pooling, c.frozen_layers, c.crop) == (50, 512, "max", 6, 224)
    with pytest.raises(ValueError, match="pooling"):
        ConvirtConfig(pooling="pooler")


def test_freezing_covers_embeddings_and_the_first_layers_only():
    model = _tiny(frozen_layers=1)
    model.freeze_text_layers()
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert frozen and all(n.startswith(("text_encoder.embeddings.", "text_encoder.encoder.layer.0.")) for n in frozen)
    assert any(n.startswith("text_encoder.embeddings.") for n in frozen)
    assert all(p.requires_grad for n, p in model.named_parameters() if n.startswith("text_encoder.encoder.layer.1."))
    assert all(p.requires_grad for n, p in model.named_parameters() if n.startswith(("image_", "text_projection")))


def test_patch_embeddings_are_the_image_head_applied_to_each_layer4_cell():
    model = _tiny()
    images = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        global_, patches = model.image_embeddings(images)
        layer4 = model.image_features(images)  # [B, C, h, w]
        w0, b0 = model.image_projection[0].weight, model.image_projection[0].bias
        w2, b2 = model.image_projection[2].weight, model.image_projection[2].bias
        cell = layer4[1, :, 2, 3]
        expected_cell = w2 @ torch.relu(w0 @ cell + b0) + b2
        expected_global = w2 @ torch.relu(w0 @ layer4[0].mean(dim=(1, 2)) + b0) + b2
    assert patches.shape == (2, 4, 4, 16) and model.grid_size() == (4, 4)  # dilated layer4: stride 16
    torch.testing.assert_close(patches[1, 2, 3], expected_cell, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(global_[0], expected_global, rtol=1e-5, atol=1e-6)


def test_checkpoint_round_trip_through_the_registry(tmp_path):
    model = _tiny(pooling="mean")
    tokenizer = write_tokenizer(build_vocab(CORPUS, min_count=1), tmp_path / "tok")
    save_convirt_checkpoint(tmp_path / "ckpt", model, tokenizer, ("toy",), "a test ConVIRT")
    adapter = build_adapter("convirt", checkpoint=str(tmp_path / "ckpt"))
    assert adapter.meta.map_rescale == "minmax" and adapter.meta.training_data == ("toy",)
    assert adapter.geometry.grid == (4, 4) and adapter.geometry.crop == 64
    images = torch.rand(3, 3, 64, 64)
    with torch.no_grad():
        emb = adapter.encode_images(images)
        texts = adapter.encode_texts(CORPUS[:2])
        g, p = model.image_embeddings(images)
        enc = tokenizer(CORPUS[:2], padding=True, return_tensors="pt")
        t = model.text_embeddings(enc["input_ids"], enc["attention_mask"])
    torch.testing.assert_close(emb.global_, F.normalize(g, dim=-1))
    torch.testing.assert_close(emb.patches, F.normalize(p, dim=-1))
    torch.testing.assert_close(texts, F.normalize(t, dim=-1))
    grid = adapter.similarity_grid(emb, texts)
    assert grid.shape == (3, 2, 4, 4) and grid.abs().max() <= 1 + 1e-5


def test_no_checkpoint_says_how_to_get_one():
    with pytest.raises(WeightsUnavailableError, match="msxr-bench train --model convirt"):
        build_convirt()
    with pytest.raises(ValueError, match="unknown --model-arg"):
        build_convirt(checkpoint="x", pooling="max")


def test_a_gloria_directory_is_not_a_convirt_checkpoint(tmp_path):
    (tmp_path / "config.json").write_text('{"format": "msxr-bench-gloria", "format_version": 1}')
    with pytest.raises(ValueError, match="not a msxr-bench-convirt checkpoint"):
        build_convirt(checkpoint=str(tmp_path))


def test_over_long_texts_are_an_error_not_a_silent_cut(tmp_path):
    model = _tiny()
    tokenizer = write_tokenizer(build_vocab(CORPUS, min_count=1), tmp_path / "tok")
    save_convirt_checkpoint(tmp_path / "ckpt", model, tokenizer)
    adapter = build_convirt(checkpoint=str(tmp_path / "ckpt"))
    with pytest.raises(ValueError, match="limit of 32"):
        adapter.encode_texts(["small left pleural effusion " * 10])
