"""Loading BioViL / BioViL-T weights in the released formats: local files, the hub cache at the pinned revision,
checksums, strictness, and the offline error that says what to download and which option to pass."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections import OrderedDict
from pathlib import Path

import pytest
import torch

from msxr_bench.adapters import weights as weights_module
from msxr_bench.adapters.biovil import build_biovil, build_biovil_t
from biovil_files import SMALL_TEXT_CONFIG, write_image_weights, write_text_model
from msxr_bench.adapters.weights import (
    ChecksumMismatchError,
    HubFile,
    WeightsUnavailableError,
    load_state_dict_file,
    verify_official,
)

SMALL_TEXT = SMALL_TEXT_CONFIG
BIOVIL_PT = "biovil_image_resnet50_proj_size_128.pt"


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("biovil_files")
    return {"image": write_image_weights(root / BIOVIL_PT, seed=1),
            "text_bin": write_text_model(root / "text_bin", seed=2, fmt="bin", **SMALL_TEXT),
            "text_st": write_text_model(root / "text_st", seed=2, fmt="safetensors", **SMALL_TEXT)}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_official_formats_load_and_the_loaded_files_are_recorded(files) -> None:
    adapter = build_biovil(image_weights=str(files["image"]), text_model=str(files["text_bin"]), verify="false")
    meta = adapter.meta
    assert meta.weights_sha256 == _sha256(files["image"])
    assert _sha256(files["text_bin"] / "pytorch_model.bin") in meta.weights_source
    assert (meta.training_data, meta.licence, meta.map_rescale) == (("MIMIC-CXR",), "MIT", "none")
    state = torch.load(files["image"], weights_only=True)
    assert len(state) == 328
    loaded = adapter.image_model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state.items())


def test_text_bin_with_pooler_and_position_ids_equals_safetensors(files) -> None:
    raw = torch.load(files["text_bin"] / "pytorch_model.bin", weights_only=True)
    assert {"bert.pooler.dense.weight", "bert.embeddings.position_ids"} <= set(raw)
    a = build_biovil(image_weights=str(files["image"]), text_model=str(files["text_bin"]), verify="false")
    b = build_biovil(image_weights=str(files["image"]), text_model=str(files["text_st"]), verify="false")
    with torch.no_grad():
        assert torch.equal(a.encode_texts(["left pleural effusion"]), b.encode_texts(["left pleural effusion"]))


def test_text_config_with_model_type_bert_loads(files, tmp_path) -> None:
    text = shutil.copytree(files["text_st"], tmp_path / "text")
    config = json.loads((text / "config.json").read_text())
    (text / "config.json").write_text(json.dumps({**config, "model_type": "bert"}))
    adapter = build_biovil(image_weights=str(files["image"]), text_model=str(text), verify="false")
    assert adapter.text_model.config.projection_size == 128


def test_official_file_name_with_other_content_is_a_checksum_error(files) -> None:
    with pytest.raises(ChecksumMismatchError) as err:
        build_biovil(image_weights=str(files["image"]), text_model=str(files["text_st"]))
    message = str(err.value)
    assert "MD5" in message and "02ce6ee460f72efd599295f440dbb453" in message and "verify=false" in message
    assert "resolve/v1.1/biovil_image_resnet50_proj_size_128.pt" in message


def test_a_file_under_another_name_is_not_held_to_the_official_checksum(files, tmp_path) -> None:
    mine = shutil.copy(files["image"], tmp_path / "my_biovil.pt")
    assert build_biovil(image_weights=str(mine), text_model=str(files["text_st"])).meta.weights_sha256 == _sha256(mine)


def test_verify_official_checks_md5_and_sha256_of_official_names(tmp_path) -> None:
    path = tmp_path / "weights.pt"
    path.write_bytes(b"some weights")
    md5, sha = hashlib.md5(b"some weights").hexdigest(), hashlib.sha256(b"some weights").hexdigest()
    assert verify_official(path, HubFile("o/r", "weights.pt", "v1", md5=md5, sha256=sha)) == sha
    with pytest.raises(ChecksumMismatchError, match="sha256"):
        verify_official(path, HubFile("o/r", "weights.pt", "v1", md5=md5, sha256="0" * 64))
    with pytest.raises(ChecksumMismatchError, match="MD5"):
        verify_official(path, HubFile("o/r", "weights.pt", "v1", md5="0" * 32))
    assert verify_official(path, HubFile("o/r", "weights.pt", "v1", md5="0" * 32), verify=False) == sha


def _edited_image_file(files, tmp_path, edit) -> Path:
    state = torch.load(files["image"], weights_only=True)
    edit(state)
    path = tmp_path / "edited.pt"
    torch.save(state, path)
    return path


def test_image_loading_is_strict_with_named_keys(files, tmp_path) -> None:
    path = _edited_image_file(files, tmp_path, lambda s: s.pop("encoder.encoder.layer2.1.conv2.weight"))
    with pytest.raises(ValueError, match="missing: encoder.encoder.layer2.1.conv2.weight"):
        build_biovil(image_weights=str(path), text_model=str(files["text_st"]))
    path = _edited_image_file(files, tmp_path, lambda s: s.__setitem__("encoder.extra", torch.zeros(1)))
    with pytest.raises(ValueError, match="unexpected: encoder.extra"):
        build_biovil(image_weights=str(path), text_model=str(files["text_st"]))
    path = _edited_image_file(files, tmp_path, lambda s: s.__setitem__("projector.model.3.bias", torch.zeros(64)))
    with pytest.raises(ValueError, match=r"projector.model.3.bias: file \(64,\) vs model \(128,\)"):
        build_biovil(image_weights=str(path), text_model=str(files["text_st"]))
    with pytest.raises(ValueError, match="wrong shapes"):  # a BioViL file is not a BioViL-T file
        build_biovil_t(image_weights=str(files["image"]), text_model=str(files["text_st"]), verify="false")


def test_num_batches_tracked_may_be_absent(files, tmp_path) -> None:
    def drop(state: dict) -> None:
        for k in [k for k in state if k.endswith("num_batches_tracked")]:
            del state[k]

    path = _edited_image_file(files, tmp_path, drop)
    assert len(torch.load(path, weights_only=True)) == 328 - 54
    build_biovil(image_weights=str(path), text_model=str(files["text_st"]))


def test_text_loading_is_strict_beyond_the_documented_extras(files, tmp_path) -> None:
    text = shutil.copytree(files["text_bin"], tmp_path / "text")
    state = torch.load(text / "pytorch_model.bin", weights_only=True)
    del state["cls_projection_head.LayerNorm.weight"]
    torch.save(state, text / "pytorch_model.bin")
    with pytest.raises(ValueError, match="missing: cls_projection_head.LayerNorm.weight"):
        build_biovil(image_weights=str(files["image"]), text_model=str(text), verify="false")


def test_pickles_with_code_are_refused(tmp_path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"model": OrderedDict(a=torch.zeros(1)), "opt": HubFile("a/b", "c")}, path)
    with pytest.raises(ValueError, match="not a loadable weights file"):
        load_state_dict_file(path)


@pytest.fixture
def offline_hub(monkeypatch, tmp_path) -> Path:
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    return cache


@pytest.mark.parametrize("build, url, option", [
    (build_biovil, "https://huggingface.co/microsoft/BiomedVLP-CXR-BERT-specialized/resolve/v1.1/"
                   "biovil_image_resnet50_proj_size_128.pt", "--model-arg image_weights=/path/to/"),
    (build_biovil_t, "https://huggingface.co/microsoft/BiomedVLP-BioViL-T/resolve/v1.0/"
                     "biovil_t_image_model_proj_size_128.pt", "--model-arg image_weights=/path/to/"),
])
def test_offline_without_weights_says_what_to_download_and_which_option(offline_hub, build, url, option) -> None:
    start = time.monotonic()
    with pytest.raises(WeightsUnavailableError) as err:
        build()
    assert time.monotonic() - start < 5
    message = str(err.value)
    assert url in message and option in message and "offline" in message
    assert ("02ce6ee460f72efd599295f440dbb453" in message) == (build is build_biovil)


def test_offline_without_text_model_names_the_repo_and_option(offline_hub, files) -> None:
    with pytest.raises(WeightsUnavailableError) as err:
        build_biovil(image_weights=str(files["image"]), verify="false")
    message = str(err.value)
    assert "microsoft/BiomedVLP-CXR-BERT-specialized" in message and "--model-arg text_model=" in message


def test_unreachable_hub_fails_fast_even_without_hf_hub_offline(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(weights_module, "_host_reachable", lambda host, port: False)
    start = time.monotonic()
    with pytest.raises(WeightsUnavailableError, match="offline"):
        build_biovil_t()
    assert time.monotonic() - start < 5


def _put_in_hub_cache(cache: Path, repo: str, revision: str, files: dict[str, Path]) -> None:
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo_dir = cache / f"models--{repo.replace('/', '--')}"
    (repo_dir / "refs").mkdir(parents=True)
    (repo_dir / "refs" / revision).write_text(commit)
    snapshot = repo_dir / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for name, src in files.items():
        shutil.copy(src, snapshot / name)


def test_files_in_the_hub_cache_are_used_at_the_pinned_revision_and_verified(offline_hub, files) -> None:
    text = files["text_bin"]
    _put_in_hub_cache(offline_hub, "microsoft/BiomedVLP-CXR-BERT-specialized", "v1.1",
                      {BIOVIL_PT: files["image"], **{p.name: p for p in text.iterdir()}})
    with pytest.raises(ChecksumMismatchError, match="MD5"):  # random weights are not the released file
        build_biovil()
    adapter = build_biovil(verify="false")
    assert adapter.meta.weights_source.startswith(
        "image hf://microsoft/BiomedVLP-CXR-BERT-specialized@v1.1/biovil_image_resnet50_proj_size_128.pt; "
        "text hf://microsoft/BiomedVLP-CXR-BERT-specialized@v1.1")
    assert adapter.meta.weights_revision == "v1.1"
    assert adapter.meta.weights_sha256 == _sha256(files["image"])


@pytest.mark.slow
def test_bert_base_text_file_with_the_released_key_set_loads(tmp_path) -> None:
    from msxr_bench.adapters.biovil_weights import load_text_model, resolve_text_model

    text = write_text_model(tmp_path / "text", seed=0, fmt="bin")  # BERT-base layout, toy vocabulary
    state = torch.load(text / "pytorch_model.bin", weights_only=True)
    extras = {"bert.embeddings.position_ids", "bert.pooler.dense.weight", "bert.pooler.dense.bias"}
    assert len(state) == 210 + 3 and extras <= set(state)
    model = load_text_model(resolve_text_model(str(text), "unused/repo", "v0"))
    assert model.config.num_hidden_layers == 12 and model.config.hidden_size == 768
    loaded = model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state.items() if k not in extras)
