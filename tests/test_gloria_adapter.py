"""The gloria adapter: loading (converted release, toolkit checkpoint, missing weights), the contract's
embeddings, grounding grids (cosine, attention) and zero-shot class scores."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from transformers import BertConfig, BertTokenizerFast

from gloria_helpers import write_stub_vocab
from gloria_lightning_fakes import released_files
from msxr_bench.adapters.gloria import build_gloria
from msxr_bench.adapters.gloria_checkpoint import NotConvertedError
from msxr_bench.adapters.gloria_checkpoint_dir import save_gloria_checkpoint
from msxr_bench.adapters.registry import build_adapter
from msxr_bench.adapters.weights import WeightsUnavailableError
from msxr_bench.models.gloria_attention import attention_fn
from msxr_bench.models.gloria_model import GloriaConfig, GloriaModel
from msxr_bench.models.gloria_zero_shot import class_scores, zero_shot_similarities

TINY = GloriaConfig(resnet_depth=10, resnet_width=8, embedding_dim=32, input_size=64, resize=64, crop=56)


@pytest.fixture(scope="module")
def stub_vocab_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("vocab")
    write_stub_vocab(directory)
    return directory


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory, stub_vocab_dir):
    torch.manual_seed(1)
    tokenizer = BertTokenizerFast.from_pretrained(str(stub_vocab_dir))
    bert = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=4, num_attention_heads=2,
                      intermediate_size=64, max_position_embeddings=128)
    model = GloriaModel(TINY, bert, tokenizer).eval()
    with torch.no_grad():  # BatchNorm statistics away from identity, so that the test sees them
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    directory = save_gloria_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny", model, ("toy-world",), "tiny test")
    return model, directory


def test_released_format_loads_after_conversion():
    files = released_files()
    state = files["state"]
    weights = files["converted"].output
    text_dir = files["text_dir"]
    adapter = build_adapter("gloria", weights=str(weights), text_model=str(text_dir))
    loaded = adapter.model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state.items() if not k.endswith("position_ids"))
    g = adapter.geometry
    assert (g.kind, g.resize, g.crop, g.grid) == ("letterbox_crop", 256, 224, (19, 19))
    m = adapter.meta
    assert m.training_data == ("CheXpert",) and m.map_rescale == "minmax" and m.embedding_dim == 768
    assert "zero_shot=fixed" in m.version and "map=cosine" in m.version
    assert m.licence == "Apache-2.0" and "chexpert_resnet50.ckpt" in m.weights_source
    emb = adapter.encode_images(torch.rand(1, 3, 224, 224))
    assert emb.patches.shape == (1, 19, 19, 768) and emb.extras["local"].shape == (1, 768, 19, 19)


def test_no_weights_says_where_to_get_them_and_how_to_convert():
    with pytest.raises(WeightsUnavailableError) as err:
        build_gloria()
    text = str(err.value)
    assert "stanfordmedicine.box.com" in text and "issues/17" in text
    assert "msxr-bench convert-gloria chexpert_resnet50.ckpt" in text and "--model-arg weights=" in text
    assert "emilyalsentzer/Bio_ClinicalBERT" in text and "text_model=DIR" in text


def test_offline_without_tokenizer_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty_cache"))
    (tmp_path / "w.safetensors").write_bytes(b"")
    with pytest.raises(WeightsUnavailableError, match="--model-arg text_model="):
        build_gloria(weights=str(tmp_path / "w.safetensors"))


def test_raw_checkpoint_as_weights_is_refused_with_the_conversion_hint():
    files = released_files()
    with pytest.raises(NotConvertedError, match="convert-gloria"):
        build_gloria(weights=str(files["ckpt"]), text_model=str(files["text_dir"]))


def test_unknown_option_and_bad_mode_are_errors():
    with pytest.raises(ValueError, match="unknown --model-arg"):
        build_gloria(weigths="x")
    with pytest.raises(ValueError, match="zero_shot=maybe"):
        build_gloria(zero_shot="maybe")


def test_toolkit_checkpoint_reloads_identically(tiny_checkpoint):
    model, directory = tiny_checkpoint
    adapter = build_gloria(checkpoint=str(directory))
    assert adapter.geometry.grid == (4, 4) and adapter.meta.training_data == ("toy-world",)
    images = torch.rand(2, 3, 56, 56)
    emb = adapter.encode_images(images)
    with torch.no_grad():
        x = F.interpolate((images - 0.5) / 0.5, size=(64, 64), mode="bilinear", align_corners=True)
        trunk = model.img_encoder.model
        x = trunk.maxpool(trunk.relu(trunk.bn1(trunk.conv1(x))))
        layer3 = trunk.layer3(trunk.layer2(trunk.layer1(x)))
        local = model.img_encoder.local_embedder(layer3)
        global_ = model.img_encoder.global_embedder(trunk.layer4(layer3).mean(dim=(2, 3)))
    assert torch.allclose(emb.extras["local"], local, atol=1e-5)
    assert torch.allclose(emb.global_, F.normalize(global_, dim=1), atol=1e-5)
    assert torch.allclose(emb.patches.norm(dim=-1), torch.ones(2, 4, 4))
    texts = adapter.encode_texts(["small left pleural effusion", "no pneumothorax"])
    with torch.no_grad():
        ids = model.text_encoder.tokenize(["small left pleural effusion", "no pneumothorax"], 1)
        expected = model.text_encoder_forward(ids["input_ids"], ids["attention_mask"], ids["token_type_ids"])[1]
    assert torch.allclose(texts, F.normalize(expected, dim=1), atol=1e-5)
    grid = adapter.similarity_grid(emb, texts)
    assert torch.allclose(grid, torch.einsum("bhwd,td->bthw", emb.patches, texts))


@torch.no_grad()
def test_attention_map_is_mean_word_attention_of_the_phrase_words(tiny_checkpoint):
    _, directory = tiny_checkpoint
    adapter = build_gloria(checkpoint=str(directory), map="attention")
    emb = adapter.encode_images(torch.rand(2, 3, 56, 56))
    phrases = ["small left pleural effusion", "findings suggesting pneumonia"]
    texts = adapter.encode_texts(phrases)
    grid = adapter.similarity_grid(emb, texts[[1, 0]])
    words, _, sents = adapter.encode_raw_texts([phrases[1]])
    assert sents[0][:5] == ["[CLS]", "findings", "suggesting", "pneumonia", "[SEP]"]
    _, attn = attention_fn(words[:, :, 1:4].expand(2, -1, -1), emb.extras["local"], 4.0)
    assert torch.allclose(grid[:, 0], attn.mean(dim=1), atol=1e-6)
    assert torch.allclose(grid.sum(dim=(2, 3)), torch.ones(2, 2), atol=1e-5)  # each word map sums to 1
    prompt = adapter.embed_prompt_list(phrases)
    both = adapter.similarity_grid(emb, prompt[None])[:, 0]
    assert torch.allclose(both, (grid[:, 0] + grid[:, 1]) / 2, atol=1e-6)
    with pytest.raises(ValueError, match="map=attention needs text embeddings made by this adapter"):
        adapter.similarity_grid(emb, F.normalize(torch.randn(1, 32), dim=1))


@torch.no_grad()
@pytest.mark.parametrize("mode", ["fixed", "released"])
def test_zero_shot_class_scores_follow_the_mode(tiny_checkpoint, mode):
    _, directory = tiny_checkpoint
    adapter = build_gloria(checkpoint=str(directory), zero_shot=mode)
    emb = adapter.encode_images(torch.rand(3, 3, 56, 56))
    prompts = {"pneumonia": ["mild pneumonia", "findings suggesting pneumonia"],
               "normal": ["no evidence of pneumonia", "the lungs are clear"]}
    scores = adapter.zero_shot_class_scores(emb, prompts)
    flat = [p for ps in prompts.values() for p in ps]
    words, sent, sents = adapter.encode_raw_texts(flat, 2 if mode == "released" else 1)
    lens = [len(p) for p in flat] if mode == "released" else [2, 3, 4, 4]
    sims = zero_shot_similarities(emb.extras["local"], emb.extras["global"], words, sent, lens)
    mask = torch.tensor([[1, 1, 0, 0], [0, 0, 1, 1]], dtype=torch.bool)
    assert torch.allclose(scores, class_scores(sims, mask, mode), atol=1e-6)
    if mode == "fixed":
        assert torch.allclose(scores[:, 0], sims[:, :2].mean(dim=1), atol=1e-6)
    else:
        assert torch.allclose(scores.mean(dim=0), torch.zeros(2), atol=1e-5)  # z-scored over the 3 images


@torch.no_grad()
def test_released_scores_from_batched_similarities_equal_the_one_shot_call(tiny_checkpoint):
    _, directory = tiny_checkpoint
    adapter = build_gloria(checkpoint=str(directory), zero_shot="released")
    prompts = {"pneumonia": ["mild pneumonia"], "normal": ["no evidence of pneumonia", "the lungs are clear"]}
    flat = [p for ps in prompts.values() for p in ps]
    images = torch.rand(5, 3, 56, 56)
    batched = torch.cat([adapter.prompt_similarities(adapter.encode_images(images[i:i + 2]), flat) for i in (0, 2, 4)])
    whole = adapter.zero_shot_class_scores(adapter.encode_images(images), prompts)
    assert torch.allclose(adapter.class_scores_from_similarities(batched, prompts), whole, atol=1e-5)
    with pytest.raises(ValueError, match="3 prompt similarities for 2 class prompts"):
        adapter.class_scores_from_similarities(batched, {"a": ["x"], "b": ["y"]})


def test_harness_preprocessing_feeds_the_adapter(tiny_checkpoint):
    from msxr_bench.geometry import preprocess

    _, directory = tiny_checkpoint
    adapter = build_gloria(checkpoint=str(directory))
    image = (torch.rand(90, 60) * 255).to(torch.uint8).numpy()  # portrait: letterboxed left and right
    x = preprocess(image, adapter.geometry)
    assert tuple(x.shape) == (3, 56, 56) and 0 <= float(x.min()) and float(x.max()) <= 1
    emb = adapter.encode_images(x[None])
    assert emb.patches.shape == (1, 4, 4, 32) and torch.isfinite(emb.patches).all()


@torch.no_grad()
def test_one_word_phrases_are_kept_in_both_modes(tiny_checkpoint):
    _, directory = tiny_checkpoint
    for mode in ("released", "fixed"):
        adapter = build_gloria(checkpoint=str(directory), zero_shot=mode, map="attention")
        one, empty = adapter.encode_texts(["Pneumothorax.", ""])
        assert not torch.allclose(one, empty)
        grid = adapter.similarity_grid(adapter.encode_images(torch.rand(1, 3, 56, 56)), one[None])
        assert torch.allclose(grid.sum(), torch.tensor(1.0), atol=1e-5)
    images = adapter.encode_images(torch.rand(2, 3, 56, 56))
    released = build_gloria(checkpoint=str(directory), zero_shot="released")
    sims = released.prompt_similarities(images, ["pneumonia", "effusion!"])  # both become "[CLS] [SEP]", 9 chars
    assert torch.equal(sims[:, 0], sims[:, 1])  # released prompts follow upstream: a one-word prompt vanishes
    fixed = build_gloria(checkpoint=str(directory), zero_shot="fixed").prompt_similarities(images, ["pneumonia", "effusion"])
    assert not torch.allclose(fixed[:, 0], fixed[:, 1])
