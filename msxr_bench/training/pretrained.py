"""Initial weights of the paper configs: an ImageNet ResNet (a torchvision-format state_dict file, e.g.
`resnet50-11ad3fa6.pth`, passed with `--image-init`) and a pretrained BERT (a hub id or a local
`save_pretrained` directory, `--text-model`; defaults per recipe: Bio_ClinicalBERT, CXR-BERT-general).
Loading is strict apart from the heads a pretraining checkpoint carries and the new model lacks.
"""

from __future__ import annotations

import logging
from pathlib import Path

from torch import nn

from msxr_bench.adapters.biovil_weights import TextModelFiles, resolve_text_model
from msxr_bench.adapters.weights import load_checked, load_state_dict_file

log = logging.getLogger(__name__)

# keys of pretraining checkpoints that the toolkit's encoders do not have
PRETRAINING_ONLY = ("cls.seq_relationship.*", "*position_ids", "bert.embeddings.token_type_ids")


def resolve_text_init(text_model: str | None, default_repo: str, default_revision: str | None) -> TextModelFiles:
    """The pretrained BERT directory: `text_model` (directory or hub id) or the recipe's default hub repo."""
    return resolve_text_model(text_model, default_repo, default_revision or "main")


def load_bert_encoder(bert: nn.Module, files: TextModelFiles) -> None:
    """A pretrained BERT checkpoint (`bert.*` keys, MLM/NSP heads, pooler) into a transformers `BertModel`."""
    state = load_state_dict_file(files.weights.path)
    has_pooler = any(k.startswith("pooler.") for k in bert.state_dict())
    state = {(k[len("bert."):] if k.startswith("bert.") else k): v for k, v in state.items()}
    ignore = ["cls.*", "*position_ids", "embeddings.token_type_ids"] + ([] if has_pooler else ["pooler.*"])
    load_checked(bert, state, str(files.weights.path), ignore_unexpected=tuple(ignore),
                 allow_missing=("pooler.*",) if has_pooler else ())
    log.info("text encoder initialised from %s", files.weights.source)


def load_masked_lm(model: nn.Module, files: TextModelFiles) -> None:
    """A pretrained BERT-for-MLM checkpoint into a `CXRBertModel` (its projection head stays freshly initialised)."""
    state = load_state_dict_file(files.weights.path)
    load_checked(model, state, str(files.weights.path),
                 ignore_unexpected=PRETRAINING_ONLY + ("bert.pooler.*", "cls_projection_head.*"),
                 allow_missing=("cls_projection_head.*", "cls.predictions.decoder.*"))
    model.tie_weights()
    log.info("CXR-BERT initialised from %s", files.weights.source)


def load_imagenet_trunk(trunk: nn.Module, path: str | Path) -> None:
    """A torchvision ResNet state_dict into the toolkit's ResNet (same names; `fc` dropped when absent)."""
    state = load_state_dict_file(path)
    has_fc = any(k.startswith("fc.") for k in trunk.state_dict())
    load_checked(trunk, state, str(path), ignore_unexpected=() if has_fc else ("fc.*",),
                 allow_missing=("*num_batches_tracked",))
    log.info("image trunk initialised from %s", path)
