"""The BioViL adapter on the harness contract: image/text embeddings as hi-ml defines them, the official
prompt rules, options, and the toolkit's checkpoint directory (tiny models, so these tests are fast)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from transformers import BertTokenizer

from msxr_bench.adapters.biovil import BioViLAdapter, build_biovil, build_biovil_t
from msxr_bench.adapters.biovil_checkpoint import BioViLCheckpointConfig, save_biovil_checkpoint
from biovil_files import random_text_model, synthetic_radiographs, toy_vocab
from msxr_bench.adapters.registry import build_adapter
from msxr_bench.models.biovil import BioViLImageConfig, BioViLImageModel

TINY_IMAGE = BioViLImageConfig(depth=10, width=8, joint_feature_size=32, imagenet_fc=False)
TINY_TEXT = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128,
                 projection_size=32)


def _tiny_checkpoint(directory: Path, model: str = "biovil", seed: int = 0) -> Path:
    image_config = TINY_IMAGE if model == "biovil" else BioViLImageConfig(
        depth=10, width=8, joint_feature_size=32, multi_image=True, imagenet_fc=False, vit_dim=16, vit_heads=2,
        vit_blocks=1, vit_grid=(4, 4))
    torch.manual_seed(seed)
    image_model = BioViLImageModel(image_config)
    text_model = random_text_model(seed, **TINY_TEXT)
    vocab = directory.parent / f"vocab-{directory.name}.txt"
    vocab.write_text("\n".join(toy_vocab()) + "\n")
    tokenizer = BertTokenizer(str(vocab), do_lower_case=True)
    config = BioViLCheckpointConfig(model=model, image=image_config, resize=160, crop=128,
                                    training_data=("toyworld",), description="tiny test model")
    return save_biovil_checkpoint(directory, image_model, text_model, tokenizer, config)


@pytest.fixture(scope="module")
def adapter(tmp_path_factory) -> BioViLAdapter:
    return build_biovil(checkpoint=str(_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "biovil")))


def test_checkpoint_directory_round_trip(adapter: BioViLAdapter) -> None:
    assert adapter.geometry.to_dict() == {"kind": "resize_crop", "resize": 160, "crop": 128, "grid": [4, 4],
                                          "smoothing_sigma": 1.5, "channels": 3}
    assert adapter.meta.training_data == ("toyworld",) and adapter.meta.embedding_dim == 32
    assert adapter.meta.description == "tiny test model"


def test_image_embeddings_follow_hi_ml(adapter: BioViLAdapter) -> None:
    x = synthetic_radiographs(3, 128, seed=3)
    with torch.no_grad():
        emb = adapter.encode_images(x)
        projected = adapter.image_model(x)  # unnormalised [B, D, h, w]
    assert emb.patches.shape == (3, 4, 4, 32) and emb.global_.shape == (3, 32)
    assert torch.allclose(emb.global_, F.normalize(projected.mean(dim=(2, 3)), dim=-1), atol=1e-6)
    assert torch.allclose(emb.patches, F.normalize(projected, dim=1).permute(0, 2, 3, 1), atol=1e-6)
    assert not torch.allclose(emb.global_, F.normalize(emb.patches.mean(dim=(1, 2)), dim=-1), atol=1e-3)
    with pytest.raises(ValueError, match=r"\[B, 3, 128, 128\]"):
        adapter.encode_images(torch.rand(1, 3, 96, 96))


def test_prompt_rules_are_the_official_ones(adapter: BioViLAdapter) -> None:
    with torch.no_grad():
        a, b, c, d, e = adapter.encode_texts(
            ["Left pleural effusion.", "left pleural effusion", "LEFT PLEURAL EFFUSION!?", "left pleural effusion. ",
             "[MASK] pleural effusion"])
    assert torch.equal(a, b) and torch.equal(b, c)  # trailing !?. stripped, lower-cased
    assert not torch.allclose(b, d, atol=1e-4)  # "... effusion. " keeps its "." (rstrip on the raw prompt)
    assert torch.allclose(e.norm(), torch.tensor(1.0))
    for special in ("[CLS]", "[SEP]", "[PAD]", "[UNK]"):
        with pytest.raises(ValueError, match="special token"):
            adapter.encode_texts([f"effusion {special}"])
    with pytest.raises(TypeError):
        adapter.encode_texts("a string, not a list")


def test_texts_are_padded_never_truncated(adapter: BioViLAdapter) -> None:
    batch = adapter.tokenize(["effusion", "small left pleural effusion"])
    assert "token_type_ids" in batch and batch["input_ids"].shape == (2, batch["attention_mask"].sum(1).max())
    assert adapter.max_text_tokens == 512
    assert adapter.count_text_tokens(["effusion.", "left lung"]) == [3, 4]
    with pytest.raises(ValueError, match="limit of 512"):
        adapter.encode_texts(["effusion " * 511])
    assert adapter.count_text_tokens(["effusion " * 510]) == [512]
    with torch.no_grad():
        assert adapter.encode_texts(["effusion " * 510]).shape == (1, 32)


def test_raw_projections_and_prompt_averaging(adapter: BioViLAdapter) -> None:
    prompts = ["findings suggesting pneumonia", "no evidence of pneumonia"]
    with torch.no_grad():
        raw = adapter.encode_texts(prompts, normalize=False)
        assert torch.allclose(F.normalize(raw, dim=-1), adapter.encode_texts(prompts), atol=1e-6)
        assert torch.allclose(adapter.embed_prompt_list(prompts), F.normalize(raw.mean(0), dim=-1), atol=1e-6)


def test_text_encoder_for_finetuning_is_the_encoder_whose_cls_is_projected(adapter: BioViLAdapter) -> None:
    encoder, tokenizer = adapter.text_encoder_for_finetuning()
    batch = tokenizer(["left pleural effusion"], return_tensors="pt")
    with torch.no_grad():
        cls = encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state[:, 0]
        expected = adapter.text_model.cls_projection_head(cls)
        assert torch.allclose(adapter.encode_texts(["left pleural effusion"], normalize=False), expected, atol=1e-5)


def test_checkpoint_errors_are_clear(tmp_path) -> None:
    ckpt = _tiny_checkpoint(tmp_path / "ckpt")
    with pytest.raises(ValueError, match="use --model biovil"):
        build_biovil_t(checkpoint=str(ckpt))
    with pytest.raises(ValueError, match="excludes image_weights"):
        build_biovil(checkpoint=str(ckpt), image_weights="x.pt")
    (ckpt / "image_model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="image_model.safetensors is missing"):
        build_biovil(checkpoint=str(ckpt))
    config = json.loads((ckpt / "config.json").read_text())
    (ckpt / "config.json").write_text(json.dumps({**config, "format_version": 99}))
    with pytest.raises(ValueError, match="format_version 99"):
        build_biovil(checkpoint=str(ckpt))
    with pytest.raises(FileNotFoundError, match="no config.json"):
        build_biovil(checkpoint=str(tmp_path))


def test_biovil_t_checkpoint_with_prior_images(tmp_path) -> None:
    adapter = build_adapter("biovil-t", checkpoint=str(_tiny_checkpoint(tmp_path / "t", "biovil-t")))
    x, prior = synthetic_radiographs(2, 128, seed=1), synthetic_radiographs(2, 128, seed=2)
    with torch.no_grad():
        alone, paired = adapter.encode_images(x), adapter.encode_image_pairs(x, prior)
    assert paired.patches.shape == alone.patches.shape == (2, 4, 4, 32)
    assert not torch.allclose(alone.patches, paired.patches, atol=1e-4)


def test_options(tmp_path) -> None:
    ckpt = _tiny_checkpoint(tmp_path / "ckpt")
    exact = build_biovil(checkpoint=str(ckpt), geometry="exact", crop="96", resize="128")
    assert exact.map_placement == "exact" and exact.geometry.grid == (3, 3) and exact.geometry.resize == 128
    with pytest.raises(ValueError, match="unknown --model-arg for biovil: colour"):
        build_biovil(checkpoint=str(ckpt), colour="blue")
    with pytest.raises(ValueError, match="geometry=square"):
        build_biovil(checkpoint=str(ckpt), geometry="square")
    with pytest.raises(ValueError, match="verify=maybe"):
        build_biovil(checkpoint=str(ckpt), verify="maybe")
    with pytest.raises(ValueError, match="crop 200, resize 160"):
        build_biovil(checkpoint=str(ckpt), crop="200")


def test_checkpoint_copy_gives_identical_outputs(adapter: BioViLAdapter, tmp_path) -> None:
    ckpt = _tiny_checkpoint(tmp_path / "again")
    copy = shutil.copytree(ckpt, tmp_path / "copy")
    a, b = build_biovil(checkpoint=str(ckpt)), build_biovil(checkpoint=str(copy))
    x = synthetic_radiographs(1, 128, seed=9)
    with torch.no_grad():
        assert torch.equal(a.encode_images(x).patches, b.encode_images(x).patches)
        assert torch.equal(a.encode_texts(["effusion"]), b.encode_texts(["effusion"]))
    assert a.meta.weights_sha256 == b.meta.weights_sha256
