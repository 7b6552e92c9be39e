"""The self-describing checkpoint directory of ConVIRT models trained with this toolkit:

    DIR/config.json         {"format": "msxr-bench-convirt", "format_version": 1, "convirt": ConvirtConfig,
                             "bert": BertConfig dict, "training_data": [...], "description": str}
    DIR/model.safetensors   ConvirtModel's state_dict (image_encoder.*, image_projection.*, text_encoder.*,
                            text_projection.*)
    DIR/tokenizer/          the WordPiece tokenizer via save_pretrained

`build_convirt(checkpoint=DIR)` loads it (adapters/convirt.py); `save_convirt_checkpoint` writes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from transformers import BertTokenizerFast, PreTrainedTokenizerBase

from msxr_bench.adapters.checkpoint_dir import read_bert_model_dir, save_bert_model_dir
from msxr_bench.models.convirt import ConvirtConfig, ConvirtModel

CHECKPOINT_FORMAT = "msxr-bench-convirt"
CHECKPOINT_FORMAT_VERSION = 1


@dataclass(frozen=True)
class ConvirtCheckpoint:
    model: ConvirtModel
    tokenizer: BertTokenizerFast
    weights: Path
    training_data: tuple[str, ...]
    description: str


def save_convirt_checkpoint(directory: str | Path, model: ConvirtModel, tokenizer: PreTrainedTokenizerBase,
                            training_data: tuple[str, ...] = (), description: str = "") -> Path:
    """Write `model` and `tokenizer` to `directory` in the format above; returns the directory."""
    return save_bert_model_dir(directory, CHECKPOINT_FORMAT, CHECKPOINT_FORMAT_VERSION, "convirt", model, tokenizer,
                               training_data, description)


def load_convirt_checkpoint(directory: str | Path) -> ConvirtCheckpoint:
    """The model of a checkpoint directory, loaded strictly, with clear errors for a wrong directory."""
    found = read_bert_model_dir(directory, CHECKPOINT_FORMAT, CHECKPOINT_FORMAT_VERSION, "convirt")
    config = ConvirtConfig.from_dict(found.section, found.section_source)
    model = found.load_into(ConvirtModel(config, found.bert_config))
    return ConvirtCheckpoint(model, found.tokenizer, found.weights, found.training_data, found.description)
