"""GLoRIA and ConVIRT toolkit checkpoint directories: every way a directory can be wrong is a clear error that
names the file, never a model with silently wrong weights."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from transformers import BertConfig

from msxr_bench.adapters.convirt_checkpoint import load_convirt_checkpoint, save_convirt_checkpoint
from msxr_bench.adapters.gloria_checkpoint_dir import load_gloria_checkpoint, save_gloria_checkpoint
from msxr_bench.models.convirt import ConvirtConfig, ConvirtModel
from msxr_bench.models.gloria_model import GloriaConfig, GloriaModel
from msxr_bench.training.vocab import build_vocab, write_tokenizer

CORPUS = ["Small left pleural effusion.", "No pneumothorax.", "Mild pulmonary edema.", "Right lower lobe pneumonia."]


def _bert(vocab_size: int) -> BertConfig:
    return BertConfig(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                      intermediate_size=64, max_position_embeddings=32)


def _write(kind: str, directory: Path) -> tuple[torch.nn.Module, Path]:
    torch.manual_seed(0)
    tokenizer = write_tokenizer(build_vocab(CORPUS, min_count=1), directory.parent / f"{kind}-tok")
    if kind == "convirt":
        model = ConvirtModel(ConvirtConfig(resnet_depth=10, resnet_width=8, embedding_dim=16, max_text_tokens=32,
                                           resize=64, crop=64), _bert(len(tokenizer))).eval()
        return model, save_convirt_checkpoint(directory, model, tokenizer, ("toy-world",), "test")
    model = GloriaModel(GloriaConfig(resnet_depth=10, resnet_width=8, embedding_dim=32, input_size=64, resize=64,
                                     crop=56), _bert(len(tokenizer)), tokenizer).eval()
    return model, save_gloria_checkpoint(directory, model, ("toy-world",), "test")


LOAD = {"convirt": load_convirt_checkpoint, "gloria": load_gloria_checkpoint}


@pytest.fixture(params=["convirt", "gloria"])
def written(request, tmp_path) -> tuple[str, torch.nn.Module, Path]:
    model, directory = _write(request.param, tmp_path / "ckpt")
    return request.param, model, directory


def test_round_trip_is_exact(written):
    kind, model, directory = written
    loaded = LOAD[kind](directory)
    assert loaded.training_data == ("toy-world",) and loaded.description == "test"
    assert loaded.weights == directory / "model.safetensors"
    expected, got = model.state_dict(), loaded.model.state_dict()
    assert expected.keys() == got.keys()
    for name, tensor in expected.items():
        assert torch.equal(tensor, got[name]), name
    assert not loaded.model.training


def test_truncated_weights_name_the_file(written):
    kind, _, directory = written
    weights = directory / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(ValueError, match=r"model\.safetensors: not a loadable safetensors file"):
        LOAD[kind](directory)


def test_missing_tokenizer_is_an_incomplete_checkpoint(written):
    kind, _, directory = written
    shutil.rmtree(directory / "tokenizer")
    with pytest.raises(FileNotFoundError, match=r"is incomplete: .*tokenizer/vocab\.txt is missing"):
        LOAD[kind](directory)


@pytest.mark.parametrize("edit, message", [
    (lambda d: d.update(format_version=2), "format_version 2 is not supported"),
    (lambda d: d.pop("bert"), "missing field 'bert'"),
    (lambda d: d.update(format="msxr-bench-biovil"), "not a msxr-bench-(convirt|gloria) checkpoint"),
])
def test_a_wrong_config_is_refused(written, edit, message):
    kind, _, directory = written
    config = json.loads((directory / "config.json").read_text())
    edit(config)
    (directory / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=message):
        LOAD[kind](directory)


def test_a_tokenizer_larger_than_the_bert_vocabulary_is_refused(written):
    kind, _, directory = written
    config = json.loads((directory / "config.json").read_text())
    config["bert"]["vocab_size"] = 5
    (directory / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="do not belong together"):
        LOAD[kind](directory)


def test_weights_of_another_architecture_are_refused(tmp_path):
    _, convirt_dir = _write("convirt", tmp_path / "convirt")
    _, gloria_dir = _write("gloria", tmp_path / "gloria")
    shutil.copy(convirt_dir / "model.safetensors", gloria_dir / "model.safetensors")
    with pytest.raises(ValueError, match=r"model\.safetensors: the weights do not fit GloriaModel \([1-9]\d* missing"):
        load_gloria_checkpoint(gloria_dir)
