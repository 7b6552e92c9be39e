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

from safetensors.torch import load_file
from transformers import BertConfig, BertTokenizerFast, PreTrainedTokenizerBase

from msxr_bench.adapters.checkpoint_dir import check_format, read_config, require, save_weights, write_config
from msxr_bench.adapters.weights import load_checked
from msxr_bench.models.convirt import ConvirtConfig, ConvirtModel

CHECKPOINT_FORMAT = "msxr-bench-convirt"
CHECKPOINT_FORMAT_VERSION = 1
WEIGHTS_NAME = "model.safetensors"
TOKENIZER_SUBDIR = "tokenizer"


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
    directory = Path(directory)
    save_weights(model, directory / WEIGHTS_NAME)
    tokenizer.save_pretrained(str(directory / TOKENIZER_SUBDIR))
    write_config(directory, {"format": CHECKPOINT_FORMAT, "format_version": CHECKPOINT_FORMAT_VERSION,
                             "convirt": model.config.to_dict(), "bert": model.bert_config.to_dict(),
                             "training_data": list(training_data), "description": description})
    return directory


def load_convirt_checkpoint(directory: str | Path) -> ConvirtCheckpoint:
    """The model of a checkpoint directory, loaded strictly, with clear errors for a wrong directory."""
    directory, path, d = read_config(directory)
    check_format(d, CHECKPOINT_FORMAT, CHECKPOINT_FORMAT_VERSION, str(path))
    require(directory, directory / WEIGHTS_NAME, directory / TOKENIZER_SUBDIR / "vocab.txt")
    try:
        config = ConvirtConfig.from_dict(d["convirt"], f"{path} 'convirt'")
        bert_config = BertConfig.from_dict(d["bert"])
    except KeyError as exc:
        raise ValueError(f"{path}: missing field {exc.args[0]!r}") from exc
    tokenizer = BertTokenizerFast.from_pretrained(str(directory / TOKENIZER_SUBDIR))
    if len(tokenizer) > bert_config.vocab_size:
        raise ValueError(f"{directory}: the tokenizer has {len(tokenizer)} tokens, the BERT only "
                         f"{bert_config.vocab_size}: they do not belong together")
    model = ConvirtModel(config, bert_config)
    load_checked(model, load_file(str(directory / WEIGHTS_NAME), device="cpu"), str(directory / WEIGHTS_NAME))
    return ConvirtCheckpoint(model.eval(), tokenizer, directory / WEIGHTS_NAME, tuple(d.get("training_data", ())),
                             str(d.get("description", "")))
