"""Where GLoRIA's pieces come from: the released checkpoint (Stanford Box / Google Drive, not the hub;
converted once by `msxr-bench convert-gloria`), and the tokenizer + BERT config of Bio_ClinicalBERT (hub
repo or a local directory). The model is built from the checkpoint's own config and loaded strictly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from transformers import BertConfig, BertTokenizerFast

from msxr_bench.adapters.gloria_checkpoint import ConvertedGloria, read_converted_gloria
from msxr_bench.adapters.weights import HubFile, WeightsUnavailableError, hub_download, load_checked
from msxr_bench.models.gloria_model import GloriaConfig, GloriaModel

TEXT_REPO = "emilyalsentzer/Bio_ClinicalBERT"
TEXT_FILES = ("config.json", "vocab.txt")
GLORIA_BOX_URL = "https://stanfordmedicine.box.com/s/j5h7q99f3pfi7enc0dom73m4nsm6yzvh"
GLORIA_MIRROR = "https://github.com/marshuang80/gloria/issues/17"

MISSING_WEIGHTS_HELP = (
    "GLoRIA's released weights are not on the Hugging Face hub, so msxr-bench cannot download them.\n"
    f"  1. Download chexpert_resnet50.ckpt from the authors' Stanford Box folder {GLORIA_BOX_URL}\n"
    f"     (linked from the README of marshuang80/gloria; a Google-Drive mirror is posted in {GLORIA_MIRROR}).\n"
    "  2. Convert it once (no PyTorch Lightning or OmegaConf needed):\n"
    "       msxr-bench convert-gloria chexpert_resnet50.ckpt gloria_resnet50.safetensors\n"
    "  3. Pass --model-arg weights=gloria_resnet50.safetensors\n"
    f"  The tokenizer and BERT config come from the hub repo {TEXT_REPO} (config.json, vocab.txt), or from a\n"
    "  local copy: --model-arg text_model=DIR. A GLoRIA trained with msxr-bench loads with --model-arg checkpoint=DIR."
)


@dataclass(frozen=True)
class TextFiles:
    directory: Path
    source: str  # "hf://repo@revision" or the local directory


def resolve_text_files(text_model: str | None, revision: str | None = None) -> TextFiles:
    """A directory holding Bio_ClinicalBERT's config.json and vocab.txt: local, hub cache or hub."""
    if text_model is not None and Path(text_model).expanduser().is_dir():
        directory = Path(text_model).expanduser()
        for name in TEXT_FILES:
            if not (directory / name).is_file():
                raise WeightsUnavailableError(f"--model-arg text_model={text_model}: {directory} has no {name}")
        return TextFiles(directory, str(directory))
    repo = text_model or TEXT_REPO
    if "/" not in repo:
        raise WeightsUnavailableError(f"--model-arg text_model={text_model}: neither a directory nor a hub id")
    what = f"GLoRIA tokenizer and BERT config ({repo}@{revision or 'main'})"
    paths = [hub_download(HubFile(repo, name, revision), "text_model", what) for name in TEXT_FILES]
    return TextFiles(paths[0].parent, f"hf://{repo}@{revision or 'main'}")


def load_tokenizer(directory: Path) -> BertTokenizerFast:
    """Bio_ClinicalBERT's WordPiece (its repo has no tokenizer_config: lower-casing on, as upstream's AutoTokenizer)."""
    return BertTokenizerFast.from_pretrained(str(directory))


def load_bert_config(directory: Path) -> BertConfig:
    path = directory / "config.json"
    try:
        d = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: unreadable BERT config ({exc})") from exc
    if d.get("model_type", "bert") != "bert":
        raise ValueError(f"{path}: model_type {d.get('model_type')!r}; GLoRIA's text encoder is a BERT")
    return BertConfig.from_dict(d)


def load_converted_model(weights: str | Path, text: TextFiles) -> tuple[GloriaModel, ConvertedGloria]:
    """GloriaModel from a converted file (its upstream config) and the text files; strict loading."""
    converted = read_converted_gloria(weights)
    config = GloriaConfig.from_upstream(converted.config, f"{weights} (upstream config)")
    model = GloriaModel(config, load_bert_config(text.directory), load_tokenizer(text.directory))
    load_checked(model, converted.state_dict, str(weights))
    return model.eval(), converted
