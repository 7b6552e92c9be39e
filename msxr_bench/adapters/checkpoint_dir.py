"""What every toolkit checkpoint directory shares (BioViL, GLoRIA, ConVIRT): a `config.json` naming its format
and version, safetensors weights, and clear errors for a wrong or incomplete directory; and the whole layout
GLoRIA and ConVIRT share (`save_bert_model_dir` / `read_bert_model_dir`). Each model's own fields live in its
`*_checkpoint` module.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import save_file
from transformers import BertConfig, BertTokenizerFast, PreTrainedTokenizerBase

from msxr_bench.adapters.weights import load_checked, load_state_dict_file

CONFIG_NAME = "config.json"


def read_config(directory: str | Path) -> tuple[Path, Path, dict]:
    """(directory, its config.json, the parsed config) of checkpoint `directory`."""
    directory = Path(directory).expanduser()
    path = directory / CONFIG_NAME
    if not path.is_file():
        raise FileNotFoundError(f"--model-arg checkpoint={directory}: no {CONFIG_NAME} (not a checkpoint directory)")
    try:
        return directory, path, json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: invalid JSON ({exc})") from exc


def check_format(d: dict, fmt: str, version: int, source: str) -> None:
    """The config says it is format `fmt` at `version`, or a ValueError naming `source`."""
    if d.get("format") != fmt:
        raise ValueError(f"{source}: not a {fmt} checkpoint (format={d.get('format')!r})")
    if d.get("format_version") != version:
        raise ValueError(f"{source}: format_version {d.get('format_version')!r} is not supported "
                         f"(this msxr-bench reads {version})")


def require(directory: Path, *needed: Path) -> None:
    for path in needed:
        if not path.exists():
            raise FileNotFoundError(f"checkpoint {directory} is incomplete: {path} is missing")


def save_weights(module: torch.nn.Module, path: Path) -> None:
    """`module`'s state_dict as safetensors (CPU, contiguous)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}, str(path))


def write_config(directory: Path, config: dict) -> None:
    (directory / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n")


# GLoRIA and ConVIRT: one safetensors file for the whole model, the model's own config section, a BERT config
# and a tokenizer folder.
WEIGHTS_NAME = "model.safetensors"
TOKENIZER_SUBDIR = "tokenizer"


@dataclass(frozen=True)
class BertModelDir:
    """A read GLoRIA/ConVIRT checkpoint directory, before its model is built."""

    directory: Path
    section: dict  # the model's own config, e.g. d["gloria"]
    section_source: str  # how errors name it
    bert_config: BertConfig
    tokenizer: BertTokenizerFast
    training_data: tuple[str, ...]
    description: str

    @property
    def weights(self) -> Path:
        return self.directory / WEIGHTS_NAME

    def load_into(self, model: torch.nn.Module) -> torch.nn.Module:
        """`model` with the directory's weights loaded strictly, in eval mode."""
        load_checked(model, load_state_dict_file(self.weights), str(self.weights))
        return model.eval()


def save_bert_model_dir(directory: str | Path, fmt: str, version: int, key: str, model: torch.nn.Module,
                        tokenizer: PreTrainedTokenizerBase, training_data: tuple[str, ...], description: str) -> Path:
    """Write `model` (which has `.config.to_dict()` and `.bert_config`) and `tokenizer` to `directory`."""
    directory = Path(directory)
    save_weights(model, directory / WEIGHTS_NAME)
    tokenizer.save_pretrained(str(directory / TOKENIZER_SUBDIR))
    write_config(directory, {"format": fmt, "format_version": version, key: model.config.to_dict(),
                             "bert": model.bert_config.to_dict(), "training_data": list(training_data),
                             "description": description})
    return directory


def read_bert_model_dir(directory: str | Path, fmt: str, version: int, key: str) -> BertModelDir:
    """Check and read a directory written by `save_bert_model_dir`, with errors naming the file and field."""
    directory, path, d = read_config(directory)
    check_format(d, fmt, version, str(path))
    require(directory, directory / WEIGHTS_NAME, directory / TOKENIZER_SUBDIR / "vocab.txt")
    try:
        section, bert_config = d[key], BertConfig.from_dict(d["bert"])
    except KeyError as exc:
        raise ValueError(f"{path}: missing field {exc.args[0]!r}") from exc
    tokenizer = BertTokenizerFast.from_pretrained(str(directory / TOKENIZER_SUBDIR))
    if len(tokenizer) > bert_config.vocab_size:
        raise ValueError(f"{directory}: the tokenizer has {len(tokenizer)} tokens, the BERT only "
                         f"{bert_config.vocab_size}: they do not belong together")
    return BertModelDir(directory, section, f"{path} '{key}'", bert_config, tokenizer,
                        tuple(d.get("training_data", ())), str(d.get("description", "")))
