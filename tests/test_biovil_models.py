"""The BioViL model classes: parameter names and shapes equal to hi-ml-multimodal's (key lists dumped from the
official package into tests/data/biovil/official_keys.json), grid sizes, and tiny trainable configurations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from msxr_bench.models.biovil import BIOVIL_IMAGE_CONFIG, BIOVIL_T_IMAGE_CONFIG, BioViLImageConfig, BioViLImageModel
from msxr_bench.models.cxrbert import CXRBertConfig, CXRBertModel, cxrbert_config_from_dict
from msxr_bench.models.resnet import resnet

OFFICIAL = json.loads((Path(__file__).parent / "data" / "biovil" / "official_keys.json").read_text())


def _keys(module: torch.nn.Module) -> list[list]:
    return [[k, list(v.shape)] for k, v in module.state_dict().items()]


@pytest.mark.parametrize("config, official, n_keys", [(BIOVIL_IMAGE_CONFIG, "biovil_image", 328),
                                                      (BIOVIL_T_IMAGE_CONFIG, "biovil_t_image", 372)])
def test_image_model_state_dict_is_the_official_one(config, official, n_keys) -> None:
    ours = _keys(BioViLImageModel(config))
    assert len(ours) == n_keys
    assert ours == OFFICIAL[official]  # names, shapes and order


def test_resnet18_trunk_has_torchvision_names() -> None:
    assert _keys(resnet(18)) == OFFICIAL["resnet18_trunk"]


def test_cxr_bert_state_dict_is_the_official_one() -> None:
    config = CXRBertConfig(vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                           intermediate_size=3072, max_position_embeddings=512, projection_size=128)
    ours = _keys(CXRBertModel(config))
    assert len(ours) == 210
    assert sorted(ours) == sorted(OFFICIAL["cxr_bert"])


@pytest.mark.parametrize("crop, side", [(448, 14), (480, 15), (512, 16), (97, 4), (130, 5)])
def test_grid_size_is_the_layer4_map_side(crop: int, side: int) -> None:
    model = BioViLImageModel(BioViLImageConfig(depth=10, width=8, imagenet_fc=False))
    assert model.grid_size(crop) == (side, side)
    with torch.no_grad():
        assert model(torch.rand(1, 3, crop, crop)).shape == (1, 128, side, side)


def test_resnet_returns_every_stage_with_its_stride_and_channels() -> None:
    net = resnet(50, width=16, num_classes=None).eval()
    with torch.no_grad():
        feats = net(torch.rand(2, 3, 128, 128))
    assert [tuple(f.shape[1:]) for f in feats] == [(64, 32, 32), (128, 16, 16), (256, 8, 8), (512, 4, 4)]
    assert net.out_channels == {"layer1": 64, "layer2": 128, "layer3": 256, "layer4": 512}
    assert net.fc is None
    dilated = resnet(50, width=16, dilate=(False, False, True)).eval()
    with torch.no_grad():
        assert dilated(torch.rand(1, 3, 128, 128)).layer4.shape[-1] == 8 == dilated.output_size(128)
    with pytest.raises(ValueError, match="depth"):
        resnet(42)


def test_projection_is_per_patch_then_mean_pooled() -> None:
    model = BioViLImageModel(BioViLImageConfig(depth=10, width=8, imagenet_fc=False))
    with torch.no_grad():
        model.projector.model[1].running_var.uniform_(0.5, 2.0)
        model.projector.model[1].bias.normal_()
        x = torch.rand(2, 3, 64, 64)
        features = model.patch_features(x)
        patches = model(x)
        by_hand = model.projector(features)  # 1x1 convs = the same linear map at every patch
        assert torch.allclose(patches, by_hand)
        pooled_first = model.projector(features.mean(dim=(2, 3), keepdim=True))[..., 0, 0]
    assert torch.allclose(model.global_embedding(patches), patches.mean(dim=(2, 3)))
    assert not torch.allclose(model.global_embedding(patches), pooled_first, atol=1e-4)  # BN+ReLU: order matters


def test_tiny_models_train_including_the_prior_image_path() -> None:
    config = BioViLImageConfig(depth=10, width=8, joint_feature_size=32, multi_image=True, imagenet_fc=False,
                               vit_dim=32, vit_heads=4, vit_blocks=1, vit_grid=(4, 4))
    model = BioViLImageModel(config).train()
    cur, prev = torch.rand(2, 3, 128, 128), torch.rand(2, 3, 128, 128)
    out = model(cur, prev)
    assert out.shape == (2, 32, 4, 4)
    out.square().mean().backward()
    unused = {n for n, p in model.named_parameters() if p.grad is None}
    assert unused == {"encoder.missing_previous_emb"}  # used only without a prior (DDP: find_unused_parameters)
    with pytest.raises(ValueError, match="grid"):
        model(torch.rand(1, 3, 160, 160), torch.rand(1, 3, 160, 160))


def test_single_image_biovil_refuses_a_prior() -> None:
    model = BioViLImageModel(BioViLImageConfig(depth=10, width=8, imagenet_fc=False))
    with pytest.raises(ValueError, match="previous image"):
        model(torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64))


def test_image_config_round_trips_and_rejects_unknown_fields() -> None:
    config = BioViLImageConfig(depth=14, width=16, multi_image=True, vit_grid=(5, 5))
    assert BioViLImageConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(ValueError, match="unknown"):
        BioViLImageConfig.from_dict({"depth": 50, "colour": "blue"})


def test_text_projection_head_is_linear_gelu_layernorm_linear() -> None:
    config = CXRBertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                           intermediate_size=64, projection_size=16)
    model = CXRBertModel(config).eval()
    head = model.cls_projection_head
    h = torch.randn(3, 32)
    x = torch.nn.functional.linear(h, head.dense_to_hidden.weight, head.dense_to_hidden.bias)
    x = 0.5 * x * (1 + torch.erf(x / 2**0.5))  # exact GELU
    x = torch.nn.functional.layer_norm(x, (16,), head.LayerNorm.weight, head.LayerNorm.bias, eps=1e-12)
    x = torch.nn.functional.linear(x, head.dense_to_output.weight, head.dense_to_output.bias)
    assert torch.allclose(head(h), x, atol=1e-6)
    ids, mask = torch.randint(5, 50, (3, 7)), torch.ones(3, 7, dtype=torch.long)
    with torch.no_grad():
        cls = model.bert(input_ids=ids, attention_mask=mask).last_hidden_state[:, 0]
        emb = model.get_projected_text_embeddings(ids, mask)
    assert torch.allclose(emb, torch.nn.functional.normalize(head(cls), dim=1), atol=1e-6)


@pytest.mark.parametrize("model_type", ["cxr-bert", "bert"])
def test_text_config_accepts_both_hub_model_types(model_type: str) -> None:
    config = cxrbert_config_from_dict({"model_type": model_type, "projection_size": 64, "hidden_size": 32,
                                       "auto_map": {"AutoModel": "x"}})
    assert config.projection_size == 64 and config.hidden_size == 32


def test_text_config_rejects_other_models() -> None:
    with pytest.raises(ValueError, match="roberta"):
        cxrbert_config_from_dict({"model_type": "roberta", "projection_size": 128})
    with pytest.raises(ValueError, match="projection_size"):
        cxrbert_config_from_dict({"model_type": "bert"})
