"""The self-describing checkpoint directory of GLoRIA models trained with this toolkit:

    DIR/config.json         {"format": "msxr-bench-gloria", "format_version": 1, "gloria": GloriaConfig,
                             "bert": BertConfig dict, "training_data": [...], "description": str}
    DIR/model.safetensors   GloriaModel's state_dict (the released model's key names, no `gloria.` prefix)
    DIR/tokenizer/          the tokenizer via save_pretrained

`build_gloria(checkpoint=DIR)` loads it; `save_gloria_checkpoint` writes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from safetensors.torch import load_file
from transformers import BertConfig, BertTokenizerFast

from msxr_bench.adapters.checkpoint_dir import check_format, read_config, require, save_weights, write_config
from msxr_bench.adapters.weights import load_checked
from msxr_bench.models.gloria_model import GloriaConfig, GloriaModel

CHECKPOINT_FORMAT = "msxr-bench-gloria"
CHECKPOINT_FORMAT_VERSION = 1
WEIGHTS_NAME = "model.safetensors"
TOKENIZER_SUBDIR = "tokenizer"


@dataclass(frozen=True)
class GloriaCheckpoint:
    model: GloriaModel
    weights: Path
    training_data: tuple[str, ...]
    description: str


def save_gloria_checkpoint(directory: str | Path, model: GloriaModel, training_data: tuple[str, ...] = (),
                           description: str = "") -> Path:
    """Write `model` (with its tokenizer) to `directory` in the format above; returns the directory."""
    directory = Path(directory)
    save_weights(model, directory / WEIGHTS_NAME)
    model.tokenizer.save_pretrained(str(directory / TOKENIZER_SUBDIR))
    write_config(directory, {"format": CHECKPOINT_FORMAT, "format_version": CHECKPOINT_FORMAT_VERSION,
                             "gloria": model.config.to_dict(), "bert": model.bert_config.to_dict(),
                             "training_data": list(training_data), "description": description})
    return directory


def load_gloria_checkpoint(directory: str | Path) -> GloriaCheckpoint:
    """The model of a checkpoint directory, loaded strictly, with clear errors for a wrong directory."""
    directory, path, d = read_config(directory)
    check_format(d, CHECKPOINT_FORMAT, CHECKPOINT_FORMAT_VERSION, str(path))
    require(directory, directory / WEIGHTS_NAME, directory / TOKENIZER_SUBDIR)
    try:
        config = GloriaConfig.from_dict(d["gloria"], f"{path} 'gloria'")
        bert_config = BertConfig.from_dict(d["bert"])
    except KeyError as exc:
        raise ValueError(f"{path}: missing field {exc.args[0]!r}") from exc
    tokenizer = BertTokenizerFast.from_pretrained(str(directory / TOKENIZER_SUBDIR))
    model = GloriaModel(config, bert_config, tokenizer)
    load_checked(model, load_file(str(directory / WEIGHTS_NAME), device="cpu"), str(directory / WEIGHTS_NAME))
    return GloriaCheckpoint(model.eval(), directory / WEIGHTS_NAME, tuple(d.get("training_data", ())),
                            str(d.get("description", "")))
