"""Converting the released GLoRIA checkpoint format: a Lightning 1.1.4 pickle with OmegaConf hyper-parameters,
read without those packages; malicious pickles refused without running."""

from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from safetensors import safe_open

from gloria_lightning_fakes import (
    UPSTREAM_CONFIG,
    lightning_checkpoint,
    released_files,
    released_state_dict,
    save_lightning_checkpoint,
    small_state,
)
from msxr_bench.adapters.gloria_checkpoint import NotConvertedError, convert_gloria_checkpoint, read_converted_gloria
from msxr_bench.adapters.gloria_unpickle import UnsafeCheckpointError, load_lightning_checkpoint, to_plain
from msxr_bench.hashing import file_sha256
from msxr_bench.cli.convert_gloria_cmd import convert_gloria_cmd

@pytest.fixture(scope="module")
def released() -> dict:
    return released_files()


def test_state_dict_has_the_released_key_names_and_shapes():
    state = released_state_dict()
    trunk = [k for k in state if k.startswith("img_encoder.model.")]
    assert len(trunk) == 318  # torchvision resnet50 state_dict (320 entries) without fc.weight / fc.bias
    assert state["img_encoder.model.layer1.0.downsample.0.weight"].shape == (256, 64, 1, 1)
    assert state["img_encoder.model.layer4.2.bn3.running_var"].shape == (2048,)
    assert state["img_encoder.global_embedder.weight"].shape == (768, 2048)
    assert state["img_encoder.global_embedder.bias"].shape == (768,)
    assert state["img_encoder.local_embedder.weight"].shape == (768, 1024, 1, 1)
    assert "img_encoder.local_embedder.bias" not in state
    assert state["text_encoder.model.pooler.dense.weight"].shape == (768, 768)
    assert "text_encoder.model.encoder.layer.1.attention.self.query.weight" in state


def test_reads_lightning_checkpoint_without_lightning_or_omegaconf(released):
    assert "omegaconf" not in sys.modules and "pytorch_lightning" not in sys.modules
    raw = load_lightning_checkpoint(released["ckpt"])
    assert "omegaconf" not in sys.modules and "pytorch_lightning" not in sys.modules
    assert raw["pytorch-lightning_version"] == "1.1.4" and raw["epoch"] == 13
    assert to_plain(raw["hyper_parameters"]) == UPSTREAM_CONFIG
    assert to_plain(raw["hparams_type"]) == "omegaconf.dictconfig.DictConfig"
    callbacks = to_plain(raw["callbacks"])
    assert callbacks["pytorch_lightning.callbacks.early_stopping.EarlyStopping"]["patience"] == 10
    assert float(raw["callbacks"][next(iter(raw["callbacks"]))]["kth_value"]) == 3.4  # a numpy scalar
    assert torch.equal(raw["state_dict"]["gloria.img_encoder.local_embedder.weight"],
                       released["state"]["img_encoder.local_embedder.weight"])


@pytest.mark.parametrize("zip_format", [True, False])
def test_convert_strips_prefix_drops_position_ids_and_records_provenance(released, tmp_path, zip_format):
    if zip_format:  # the full released structure, converted once per session
        ckpt, state, report = released["ckpt"], released["state"], released["converted"]
    else:  # the legacy (pre-1.6) pickle format, on a few of the released keys
        state = small_state(released["state"])
        ckpt = save_lightning_checkpoint(tmp_path / "legacy.ckpt", lightning_checkpoint(state), zip_format=False)
        report = convert_gloria_checkpoint(ckpt, tmp_path / "gloria.safetensors")
    assert report.dropped == ("text_encoder.model.embeddings.position_ids",)
    converted = read_converted_gloria(report.output)
    expected = {k: v for k, v in state.items() if not k.endswith("position_ids")}
    assert set(converted.state_dict) == set(expected)
    assert all(torch.equal(converted.state_dict[k], v) for k, v in expected.items())
    assert converted.config == UPSTREAM_CONFIG
    assert converted.metadata["source_sha256"] == file_sha256(ckpt)
    assert converted.metadata["converter_version"] == "1"
    assert converted.metadata["lightning_version"] == "1.1.4"
    with safe_open(str(report.output), framework="pt") as f:
        assert all(isinstance(v, str) for v in f.metadata().values())


def test_cli_converts_and_refuses_to_overwrite(released, tmp_path):
    ckpt = save_lightning_checkpoint(tmp_path / "small.ckpt", lightning_checkpoint(small_state(released["state"])))
    out = tmp_path / "g.safetensors"
    result = CliRunner().invoke(convert_gloria_cmd, [str(ckpt), str(out)])
    assert result.exit_code == 0, result.output
    assert "dropped text_encoder.model.embeddings.position_ids" in result.output
    again = CliRunner().invoke(convert_gloria_cmd, [str(ckpt), str(out)])
    assert again.exit_code != 0 and "--force" in again.output


class _RunsShell:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class _RunsExec:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",)


@pytest.mark.parametrize("payload, refused", [(_RunsShell, "posix.system"), (_RunsExec, "builtin__.exec")])
@pytest.mark.parametrize("zip_format", [True, False])
def test_malicious_pickle_is_refused_without_running(tmp_path, payload, refused, zip_format):
    marker = tmp_path / "pwned"
    ckpt = {"state_dict": {"gloria.x": torch.zeros(1)}, "hyper_parameters": payload(marker)}
    path = tmp_path / "evil.ckpt"
    torch.save(ckpt, path, _use_new_zipfile_serialization=zip_format)
    with pytest.raises(UnsafeCheckpointError, match=refused.replace(".", r"\.")):
        convert_gloria_checkpoint(path, tmp_path / "out.safetensors")
    assert not marker.exists()
    assert not (tmp_path / "out.safetensors").exists()
    result = CliRunner().invoke(convert_gloria_cmd, [str(path), str(tmp_path / "out.safetensors")])
    assert result.exit_code != 0 and "refused" in result.output and not marker.exists()


def test_plain_pickle_with_subprocess_global_is_refused(tmp_path):
    path = tmp_path / "plain.ckpt"
    path.write_bytes(b"\x80\x02csubprocess\nPopen\nq\x00.")  # GLOBAL subprocess.Popen
    with pytest.raises(pickle.UnpicklingError, match="subprocess.Popen"):
        load_lightning_checkpoint(path)


def test_raw_ckpt_given_as_weights_says_how_to_convert(released):
    with pytest.raises(NotConvertedError, match="msxr-bench convert-gloria"):
        read_converted_gloria(released["ckpt"])


def test_checkpoint_without_gloria_prefix_is_a_clear_error(tmp_path):
    ckpt = lightning_checkpoint({"x": torch.zeros(1)})
    ckpt["state_dict"] = {"model.x": torch.zeros(1)}
    path = save_lightning_checkpoint(tmp_path / "other.ckpt", ckpt)
    with pytest.raises(ValueError, match="lack the 'gloria.' prefix"):
        convert_gloria_checkpoint(path, tmp_path / "o.safetensors")


class _OtherCodec:
    def __reduce__(self):
        import _codecs

        return _codecs.encode, ("payload", "rot13")


def test_codecs_encode_is_allowed_for_latin1_bytes_only(tmp_path):
    path = tmp_path / "codec.ckpt"
    torch.save({"ok": b"\x00\xffbytes", "bad": _OtherCodec()}, path, _use_new_zipfile_serialization=False)
    with pytest.raises(UnsafeCheckpointError, match="rot13"):
        load_lightning_checkpoint(path)
    torch.save({"ok": b"\x00\xffbytes"}, path, _use_new_zipfile_serialization=False)
    assert load_lightning_checkpoint(path)["ok"] == b"\x00\xffbytes"
