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
    """A pretrained BERT-for-MLM checkpoint into a `CXRBertModel`. Its projection head is loaded too when the
    checkpoint has one of the same shape (a CXR-BERT whose projection was pretrained, e.g. by the `cxr-bert`
    recipe's section matching); otherwise it stays freshly initialised."""
    state = load_state_dict_file(files.weights.path)
    own = model.state_dict()
    head = [k for k in own if k.startswith("cls_projection_head.")]
    keep_head = bool(head) and all(k in state and state[k].shape == own[k].shape for k in head)
    ignore = PRETRAINING_ONLY + ("bert.pooler.*",) + (() if keep_head else ("cls_projection_head.*",))
    load_checked(model, state, str(files.weights.path), ignore_unexpected=ignore,
                 allow_missing=(() if keep_head else ("cls_projection_head.*",)) + ("cls.predictions.decoder.*",))
    model.tie_weights()
    log.info("CXR-BERT initialised from %s (projection head %s)", files.weights.source,
             "loaded" if keep_head else "new")



def copy_pretrained_tokenizer(text_model: str | None, default_repo: str, directory: Path):
    """The BERT tokenizer of --text-model (default: `default_repo`), saved into the run's `directory`."""
    from transformers import BertTokenizerFast

    files = resolve_text_init(text_model, default_repo, None)
    tokenizer = BertTokenizerFast.from_pretrained(str(files.directory))
    tokenizer.save_pretrained(str(directory))
    return tokenizer

def load_image_init(image_model: nn.Module, path: str | Path) -> str:
    """--image-init of BioViL-style image models: a SimCLR checkpoint directory of this toolkit (trunk and
    projector, as BioViL's image encoder starts from SimCLR) or a torchvision ResNet state_dict file (trunk only).
    Returns what was loaded."""
    directory = Path(path).expanduser()
    if directory.is_dir():
        from msxr_bench.adapters.simclr_checkpoint import IMAGE_WEIGHTS_NAME, read_simclr_config

        config = read_simclr_config(directory)
        if config.image != image_model.config:
            raise ValueError(f"--image-init {directory}: a SimCLR image model {config.image}, this recipe builds "
                             f"{image_model.config}")
        state = load_state_dict_file(directory / IMAGE_WEIGHTS_NAME)
        load_checked(image_model, state, str(directory / IMAGE_WEIGHTS_NAME))
        log.info("image model (trunk + projector) initialised from SimCLR checkpoint %s", directory)
        return f"SimCLR checkpoint {directory}"
    load_imagenet_trunk(image_model.trunk, directory)
    return f"ResNet state_dict {directory}"


def load_imagenet_trunk(trunk: nn.Module, path: str | Path) -> None:
    """A torchvision ResNet state_dict into the toolkit's ResNet (same names; `fc` dropped when absent)."""
    state = load_state_dict_file(path)
    has_fc = any(k.startswith("fc.") for k in trunk.state_dict())
    load_checked(trunk, state, str(path), ignore_unexpected=() if has_fc else ("fc.*",),
                 allow_missing=("*num_batches_tracked",))
    log.info("image trunk initialised from %s", path)
