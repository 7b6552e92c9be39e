"""The self-describing checkpoint directory of ConVIRT models trained with this toolkit:

    DIR/config.json         {"format": "msxr-bench-convirt", "format_version": 1, "convirt": ConvirtConfig,
                             "bert": BertConfig dict, "training_data": [...], "description": str}
    DIR/model.safetensors   ConvirtModel's state_dict (image_encoder.*, image_projection.*, text_encoder.*,
                            text_projection.*)
    DIR/tokenizer/          the WordPiece tokenizer via save_pretrained

`build_convirt(checkpoint=DIR)` loads it (adapters/convirt.py); `save_convirt_checkpoint` writes it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from safetensors.torch import load_file, save_file
from transformers import BertConfig, BertTokenizerFast, PreTrainedTokenizerBase

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
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(directory / WEIGHTS_NAME))
    tokenizer.save_pretrained(str(directory / TOKENIZER_SUBDIR))
    config = {"format": CHECKPOINT_FORMAT, "format_version": CHECKPOINT_FORMAT_VERSION,
              "convirt": model.config.to_dict(), "bert": model.bert_config.to_dict(),
              "training_data": list(training_data), "description": description}
    (directory / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    return directory


def load_convirt_checkpoint(directory: str | Path) -> ConvirtCheckpoint:
    """The model of a checkpoint directory, loaded strictly, with clear errors for a wrong directory."""
    directory = Path(directory).expanduser()
    path = directory / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"--model-arg checkpoint={directory}: no config.json (not a checkpoint directory)")
    try:
        d = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: invalid JSON ({exc})") from exc
    if d.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: not a {CHECKPOINT_FORMAT} checkpoint (format={d.get('format')!r})")
    if d.get("format_version") != CHECKPOINT_FORMAT_VERSION:
        raise ValueError(f"{path}: format_version {d.get('format_version')!r} is not supported "
                         f"(this msxr-bench reads {CHECKPOINT_FORMAT_VERSION})")
    for needed in (directory / WEIGHTS_NAME, directory / TOKENIZER_SUBDIR / "vocab.txt"):
        if not needed.is_file():
            raise FileNotFoundError(f"checkpoint {directory} is incomplete: {needed} is missing")
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
