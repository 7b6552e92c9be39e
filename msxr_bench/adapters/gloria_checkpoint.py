"""Converting the released GLoRIA checkpoint (`chexpert_resnet50.ckpt`, PyTorch-Lightning 1.1.4 of
`PretrainModel` holding the model as `self.gloria`) into a safetensors file the adapter loads, and reading
such converted files back.

Converted file: the state_dict with the `gloria.` prefix stripped and `text_encoder.model.embeddings.
position_ids` dropped (a persistent buffer in transformers 4.2.1, not in current versions); safetensors
metadata (str -> str): format, converter_version, source_file, source_sha256, lightning_version, epoch,
global_step, config (the upstream training config as JSON).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from msxr_bench.adapters.gloria_unpickle import load_lightning_checkpoint, to_plain
from msxr_bench.hashing import file_sha256

CONVERTED_FORMAT = "msxr-bench/gloria-converted"
CONVERTER_VERSION = "1"
PREFIX = "gloria."
DROPPED_KEYS = ("text_encoder.model.embeddings.position_ids",)


class NotConvertedError(ValueError):
    """A weights file that is not a converted GLoRIA file (e.g. the raw Lightning `.ckpt`)."""


@dataclass(frozen=True)
class ConversionReport:
    output: Path
    source_sha256: str
    n_tensors: int
    dropped: tuple[str, ...]
    lightning_version: str | None


def convert_gloria_checkpoint(ckpt: str | Path, output: str | Path) -> ConversionReport:
    """Read `ckpt` with the restricted unpickler and write the converted safetensors file `output`."""
    ckpt, output = Path(ckpt), Path(output)
    if not ckpt.is_file():
        raise FileNotFoundError(f"{ckpt}: no such checkpoint file")
    raw = load_lightning_checkpoint(ckpt)
    state = raw.get("state_dict")
    if not isinstance(state, dict) or not state:
        raise ValueError(f"{ckpt}: no 'state_dict' in the checkpoint (top-level keys: {sorted(map(str, raw))})")
    if "hyper_parameters" not in raw:
        raise ValueError(f"{ckpt}: no 'hyper_parameters' (the upstream training config) in the checkpoint")
    config = to_plain(raw["hyper_parameters"])
    if isinstance(config, dict) and "model" not in config and len(config) == 1:
        (inner,) = config.values()  # save_hyperparameters() by argument name: {"cfg": DictConfig}
        config = inner if isinstance(inner, dict) else config
    if not isinstance(config, dict) or "model" not in config:
        raise ValueError(f"{ckpt}: 'hyper_parameters' is not a GLoRIA training config (no 'model' section)")
    foreign = [str(k) for k in state if not str(k).startswith(PREFIX)]
    if foreign:
        raise ValueError(f"{ckpt}: {len(foreign)} state_dict keys lack the '{PREFIX}' prefix of a GLoRIA "
                         f"PretrainModel checkpoint, e.g. {foreign[:3]}")
    tensors, dropped = {}, []
    for key, value in state.items():
        name = key[len(PREFIX):]
        if name in DROPPED_KEYS:
            dropped.append(name)
            continue
        if not isinstance(value, torch.Tensor):
            raise ValueError(f"{ckpt}: state_dict[{key!r}] is a {type(value).__name__}, not a tensor")
        tensors[name] = value.detach().cpu().contiguous().clone()
    source_sha = file_sha256(ckpt)
    version = raw.get("pytorch-lightning_version")
    metadata = {
        "format": CONVERTED_FORMAT, "converter_version": CONVERTER_VERSION, "source_file": ckpt.name,
        "source_sha256": source_sha, "lightning_version": str(version), "epoch": str(raw.get("epoch")),
        "global_step": str(raw.get("global_step")), "config": json.dumps(config, sort_keys=True),
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(output), metadata=metadata)
    return ConversionReport(output, source_sha, len(tensors), tuple(dropped), None if version is None else str(version))


@dataclass(frozen=True)
class ConvertedGloria:
    state_dict: dict[str, torch.Tensor]
    config: dict  # the upstream training config
    metadata: dict[str, str]


def read_converted_gloria(path: str | Path) -> ConvertedGloria:
    """A converted file's tensors, upstream config and metadata; `NotConvertedError` for anything else."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    hint = (f"{path} is not a converted GLoRIA file. Convert the released checkpoint first:\n"
            f"  msxr-bench convert-gloria chexpert_resnet50.ckpt gloria_resnet50.safetensors\n"
            f"  then pass --model-arg weights=gloria_resnet50.safetensors")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            metadata = dict(f.metadata() or {})
            if metadata.get("format") != CONVERTED_FORMAT:
                raise NotConvertedError(hint)
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except NotConvertedError:
        raise
    except Exception as exc:  # safetensors raises its own error types for non-safetensors input
        raise NotConvertedError(f"{hint}\n  ({type(exc).__name__}: {exc})") from exc
    if metadata.get("converter_version") != CONVERTER_VERSION:
        raise NotConvertedError(f"{path}: converter_version {metadata.get('converter_version')!r}; this "
                                f"msxr-bench reads version {CONVERTER_VERSION}: convert the .ckpt again")
    try:
        config = json.loads(metadata["config"])
    except (KeyError, json.JSONDecodeError) as exc:
        raise NotConvertedError(f"{path}: metadata 'config' missing or not JSON ({exc})") from exc
    return ConvertedGloria(tensors, config, metadata)
