"""Where BioViL / BioViL-T weights come from and how they load: the released image `.pt` files and CXR-BERT
text models (hub repo at a pinned revision, or local files in the same formats), strict key checks with the
few documented tolerances, and checksums recorded.

Released formats (specs/biovil-reference.md §1.3, §3): the image file is a pickled state_dict with keys
`encoder.encoder.*` (+ BioViL-T's `encoder.{backbone_to_vit,vit_pooler,missing_previous_emb}`) and
`projector.model.{0,1,3}.*`; the text model is a `save_pretrained` directory (config.json with model_type
`cxr-bert` or `bert`, `pytorch_model.bin` or `model.safetensors`, vocab.txt, tokenizer_config.json).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from transformers import BertTokenizer
from transformers.utils import logging as hf_logging

from msxr_bench.adapters.weights import (
    HubFile,
    WeightFile,
    WeightsUnavailableError,
    hub_commit_of,
    hub_download,
    load_checked,
    load_state_dict_file,
    resolve_weight_file,
)
from msxr_bench.hashing import file_sha256
from msxr_bench.models.biovil import BioViLImageConfig, BioViLImageModel
from msxr_bench.models.cxrbert import CXRBertModel, cxrbert_config_from_dict

log = logging.getLogger(__name__)

BIOVIL_REPO, BIOVIL_REVISION = "microsoft/BiomedVLP-CXR-BERT-specialized", "v1.1"
BIOVIL_T_REPO, BIOVIL_T_REVISION = "microsoft/BiomedVLP-BioViL-T", "v1.0"

BIOVIL_IMAGE_FILE = HubFile(BIOVIL_REPO, "biovil_image_resnet50_proj_size_128.pt", BIOVIL_REVISION,
                            md5="02ce6ee460f72efd599295f440dbb453")
BIOVIL_T_IMAGE_FILE = HubFile(
    BIOVIL_T_REPO, "biovil_t_image_model_proj_size_128.pt", BIOVIL_T_REVISION,
    md5="a83080e2f23aa584a4f2b24c39b1bb64",
    sha256="b2399d73dc2a68b9f3a1950e864ae0ecd24093fb07aa459d7e65807ebdc0fb77",
)

TEXT_WEIGHT_NAMES = ("model.safetensors", "pytorch_model.bin")
TEXT_REQUIRED = ("config.json", "vocab.txt")
TEXT_OPTIONAL = ("tokenizer_config.json", "special_tokens_map.json")
# keys present in the released text files that transformers' current BertForMaskedLM does not have
TEXT_IGNORED_KEYS = ("bert.pooler.*", "*position_ids", "bert.embeddings.token_type_ids")
# tied to the word embeddings / the MLM bias, and dropped by save_pretrained's safetensors writer
TEXT_TIED_KEYS = ("cls.predictions.decoder.weight", "cls.predictions.decoder.bias")


def load_image_model(weights: WeightFile, config: BioViLImageConfig) -> BioViLImageModel:
    """A `BioViLImageModel` with `weights` loaded strictly (`num_batches_tracked` may be absent)."""
    model = BioViLImageModel(config)
    state = load_state_dict_file(weights.path)
    load_checked(model, state, str(weights.path), allow_missing=("*num_batches_tracked",))
    return model.eval()


@dataclass(frozen=True)
class TextModelFiles:
    """A CXR-BERT directory (local or a hub snapshot) and the weight file in it that was loaded."""

    directory: Path
    weights: WeightFile


def text_weights_in(directory: Path) -> Path:
    """The weight file of a CXR-BERT directory (safetensors preferred), after checking its other files."""
    for name in TEXT_REQUIRED:
        if not (directory / name).is_file():
            raise WeightsUnavailableError(f"text model directory {directory} has no {name}")
    for name in TEXT_WEIGHT_NAMES:
        if (directory / name).is_file():
            return directory / name
    raise WeightsUnavailableError(f"text model directory {directory} has neither {' nor '.join(TEXT_WEIGHT_NAMES)}")


def resolve_text_model(text_model: str | None, default_repo: str, default_revision: str,
                       revision: str | None = None) -> TextModelFiles:
    """`text_model` = a local directory or a hub id (default: the model's own repo at its pinned revision)."""
    if text_model is not None and Path(text_model).expanduser().is_dir():
        directory = Path(text_model).expanduser()
        weights = text_weights_in(directory)
        return TextModelFiles(directory, WeightFile(weights, file_sha256(weights), str(directory), None))
    repo = text_model or default_repo
    rev = revision or (default_revision if repo == default_repo else None)
    if text_model is not None and "/" not in text_model:
        raise WeightsUnavailableError(f"--model-arg text_model={text_model}: neither a directory nor a hub id")
    what = f"CXR-BERT text model {repo}@{rev or 'main'}"
    paths = [hub_download(HubFile(repo, name, rev), "text_model", what + f" ({name})") for name in TEXT_REQUIRED]
    for name in TEXT_OPTIONAL:
        try:
            hub_download(HubFile(repo, name, rev), "text_model", what)
        except WeightsUnavailableError:
            log.info("%s has no %s; tokenizer defaults apply", repo, name)
    weights = None
    for name in TEXT_WEIGHT_NAMES:
        try:
            weights = hub_download(HubFile(repo, name, rev), "text_model", what)
            break
        except WeightsUnavailableError as exc:
            last = exc
    if weights is None:
        raise WeightsUnavailableError(
            f"{last}\n  (a text model directory holds config.json, vocab.txt, tokenizer_config.json and "
            f"pytorch_model.bin or model.safetensors from https://huggingface.co/{repo}/tree/{rev or 'main'}; "
            f"pass it as --model-arg text_model=DIR)"
        ) from last
    directory = paths[0].parent
    return TextModelFiles(directory, WeightFile(weights, file_sha256(weights), f"hf://{repo}@{rev or 'main'}",
                                                rev or hub_commit_of(weights)))


def load_tokenizer(directory: Path) -> BertTokenizer:
    """The repo's WordPiece tokenizer as `BertTokenizer` (= hi-ml's CXRBertTokenizer; no remote code)."""
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # "tokenizer class CXRBertTokenizer differs": expected, harmless
    try:
        return BertTokenizer.from_pretrained(str(directory))
    finally:
        hf_logging.set_verbosity(verbosity)


def load_text_model(files: TextModelFiles) -> CXRBertModel:
    """CXR-BERT built from config.json (`cxr-bert` or `bert`) and loaded strictly from its weight file."""
    config_path = files.directory / "config.json"
    try:
        config = cxrbert_config_from_dict(json.loads(config_path.read_text()))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{config_path}: {exc}") from exc
    model = CXRBertModel(config)
    state = load_state_dict_file(files.weights.path)
    load_checked(model, state, str(files.weights.path), ignore_unexpected=TEXT_IGNORED_KEYS,
                 allow_missing=TEXT_TIED_KEYS)
    model.tie_weights()
    return model.eval()


def resolve_image_weights(image_weights: str | None, hub: HubFile, verify: bool) -> WeightFile:
    what = f"{'BioViL-T' if 'biovil_t' in hub.filename else 'BioViL'} image weights"
    return resolve_weight_file(image_weights, hub, "image_weights", what, verify=verify)
