"""Paper configs start from pretrained files in their published formats (a BERT `save_pretrained` directory
with MLM/NSP heads, a torchvision ResNet-50 state_dict): weights land where they belong, heads the new model
lacks are dropped, ConVIRT freezes its embeddings + first 6 layers; and the recipes' published constants."""

from __future__ import annotations

import pytest
import torch
from transformers import BertConfig, BertForPreTraining, BertTokenizerFast

from msxr_bench.models.resnet import resnet
from msxr_bench.training.recipes import get_recipe
from msxr_bench.training.vocab import build_vocab, write_tokenizer


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    root = tmp_path_factory.mktemp("pretrained")
    write_tokenizer(build_vocab(["small left pleural effusion", "no pneumothorax"] * 2), root / "bert")
    torch.manual_seed(3)
    config = BertConfig(vocab_size=len(BertTokenizerFast.from_pretrained(str(root / "bert"))), hidden_size=32,
                        num_hidden_layers=7, num_attention_heads=2, intermediate_size=64, max_position_embeddings=128)
    bert = BertForPreTraining(config)  # Bio_ClinicalBERT's checkpoint class: MLM + NSP heads, pooler
    bert.save_pretrained(str(root / "bert"), safe_serialization=False)
    trunk = resnet(50, num_classes=1000)
    torch.nn.init.normal_(trunk.conv1.weight)
    torch.save(trunk.state_dict(), root / "resnet50.pth")
    return root, bert, trunk


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    return torch.equal(a.detach().cpu(), b.detach().cpu())


@pytest.mark.parametrize("model", ["gloria", "convirt", "biovil"])
def test_paper_config_starts_from_the_pretrained_files(tmp_path, pretrained, model):
    root, bert, trunk = pretrained
    recipe = get_recipe(model, "paper", text_model=str(root / "bert"), image_init=str(root / "resnet50.pth"))
    tokenizer = recipe.make_tokenizer([], tmp_path / "tok")
    module = recipe.build(tokenizer)
    word = bert.bert.embeddings.word_embeddings.weight
    layer = bert.bert.encoder.layer[3].attention.self.query.weight
    if model == "biovil":
        text, image = module.text_model.bert, module.image_model.trunk
        assert _same(module.text_model.cls.predictions.transform.dense.weight,
                     bert.cls.predictions.transform.dense.weight)
        assert module.text_model.config.projection_size == 128
    elif model == "gloria":
        text, image = module.model.text_encoder.model, module.model.img_encoder.model
        assert text.pooler is None  # unused by GLoRIA: left out so DDP sees no unused parameters
    else:
        text, image = module.model.text_encoder, module.model.image_encoder
        frozen = {n.split(".")[0] + "." + n.split(".")[1] for n, p in text.named_parameters() if not p.requires_grad}
        assert "embeddings.word_embeddings" in frozen
        assert all(not p.requires_grad for n, p in text.named_parameters() if n.startswith("encoder.layer.5."))
        assert all(p.requires_grad for n, p in text.named_parameters() if n.startswith("encoder.layer.6."))
    assert _same(text.embeddings.word_embeddings.weight, word)
    assert _same(text.encoder.layer[3].attention.self.query.weight, layer)
    assert _same(image.conv1.weight, trunk.conv1.weight)
    assert _same(image.layer4[2].conv3.weight, trunk.layer4[2].conv3.weight)


def test_recipe_constants_follow_the_papers():
    gloria = get_recipe("gloria", "paper").settings
    assert (gloria.optimizer, gloria.lr, gloria.betas, gloria.weight_decay, gloria.batch_size, gloria.grad_clip) == (
        "adam", 5e-5, (0.5, 0.999), 1e-6, 48, 0.25)
    assert (gloria.crop, gloria.canvas, gloria.text.mode) == (224, 256, "one_sentence")
    convirt = get_recipe("convirt", "paper").settings
    assert (convirt.optimizer, convirt.lr, convirt.weight_decay, convirt.batch_size) == ("adam", 1e-4, 1e-6, 32)
    aug = convirt.augmentation
    assert (aug.crop_area, aug.hflip, aug.rotation, aug.translate, aug.brightness, aug.blur_sigma) == (
        (0.6, 1.0), 0.5, 20.0, 0.1, (0.6, 1.4), (0.1, 3.0))
    assert convirt.text.sections == ("findings", "impression") and convirt.text.pool_sections
    biovil = get_recipe("biovil", "paper").settings
    assert biovil.text.mode == "shuffled_section" and biovil.text.sections[0] == "impression"
    for model in ("biovil", "gloria", "convirt"):
        tiny = get_recipe(model, "tiny").settings
        assert tiny.augmentation.hflip == 0.0  # the toy world's findings have sides


def test_tiny_config_refuses_pretrained_initialisation():
    with pytest.raises(ValueError, match="tiny config trains from scratch"):
        get_recipe("gloria", "tiny", text_model="emilyalsentzer/Bio_ClinicalBERT")
    with pytest.raises(ValueError, match="no training recipe"):
        get_recipe("medclip", "tiny")
