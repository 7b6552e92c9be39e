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

from msxr_bench.adapters.checkpoint_dir import read_bert_model_dir, save_bert_model_dir
from msxr_bench.models.gloria_model import GloriaConfig, GloriaModel

CHECKPOINT_FORMAT = "msxr-bench-gloria"
CHECKPOINT_FORMAT_VERSION = 1


@dataclass(frozen=True)
class GloriaCheckpoint:
    model: GloriaModel
    weights: Path
    training_data: tuple[str, ...]
    description: str


def save_gloria_checkpoint(directory: str | Path, model: GloriaModel, training_data: tuple[str, ...] = (),
                           description: str = "") -> Path:
    """Write `model` (with its tokenizer) to `directory` in the format above; returns the directory."""
    return save_bert_model_dir(directory, CHECKPOINT_FORMAT, CHECKPOINT_FORMAT_VERSION, "gloria", model,
                               model.tokenizer, training_data, description)


def load_gloria_checkpoint(directory: str | Path) -> GloriaCheckpoint:
    """The model of a checkpoint directory, loaded strictly, with clear errors for a wrong directory."""
    found = read_bert_model_dir(directory, CHECKPOINT_FORMAT, CHECKPOINT_FORMAT_VERSION, "gloria")
    config = GloriaConfig.from_dict(found.section, found.section_source)
    model = found.load_into(GloriaModel(config, found.bert_config, found.tokenizer))
    return GloriaCheckpoint(model, found.weights, found.training_data, found.description)
