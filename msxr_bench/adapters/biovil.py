"""BioViL and BioViL-T adapters: hi-ml-multimodal's inference, number for number (tests/parity/).

Options (`--model-arg key=value`): `adapters/catalog.py` declares them (`msxr-bench list --model biovil`).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import BertTokenizer

from msxr_bench.adapters.base import (
    FEATURES, GLOBAL, IMAGE_PAIRS, MLM, PATCHES, TEXT, TEXT_ENCODER, AdapterMeta, EncoderAdapter, ImageEmbeddings,
)
from msxr_bench.adapters.biovil_checkpoint import IMAGE_WEIGHTS_NAME, TEXT_SUBDIR, read_checkpoint_config
from msxr_bench.adapters.biovil_weights import (
    BIOVIL_IMAGE_FILE,
    BIOVIL_T_IMAGE_FILE,
    TextModelFiles,
    load_image_model,
    load_text_model,
    load_tokenizer,
    resolve_image_weights,
    resolve_text_model,
    text_weights_in,
)
from msxr_bench.adapters.catalog import BUILTIN
from msxr_bench.adapters.weights import WeightFile
from msxr_bench.hashing import file_sha256
from msxr_bench.geometry.types import PLACEMENTS, Geometry
from msxr_bench.models.biovil import BIOVIL_IMAGE_CONFIG, BIOVIL_T_IMAGE_CONFIG, BioViLImageModel
from msxr_bench.models.cxrbert import CXRBertModel
from msxr_bench.models.resnet import channels_last

ADAPTER_VERSION = "1.0"
SMOOTHING_SIGMA = 1.5
DEFAULT_RESIZE = 512


class BioViLAdapter(EncoderAdapter):
    """Image: projected patches (per patch) -> global = L2(mean); text: [CLS] projection -> L2."""

    capabilities = frozenset({GLOBAL, PATCHES, TEXT, TEXT_ENCODER, FEATURES, MLM})

    def __init__(self, image_model: BioViLImageModel, text_model: CXRBertModel, tokenizer: BertTokenizer,
                 meta: AdapterMeta, geometry: Geometry, placement: str = "official") -> None:
        super().__init__()
        if placement not in PLACEMENTS:
            raise ValueError(f"geometry must be one of {PLACEMENTS}, got {placement!r}")
        self.image_model = channels_last(image_model.eval())
        self.text_model = text_model.eval()
        self.tokenizer = tokenizer
        self.meta = meta
        self.geometry = geometry
        self.map_placement = placement  # how grids map back to original pixels (geometry.grid_to_image)
        self.max_text_tokens = int(text_model.config.max_position_embeddings)

    # ---- images ---------------------------------------------------------------------------------
    def _check_images(self, images: torch.Tensor) -> None:
        crop = self.geometry.crop
        if images.ndim != 4 or tuple(images.shape[1:]) != (3, crop, crop):
            raise ValueError(f"{self.meta.name} expects images [B, 3, {crop}, {crop}] in [0, 1], "
                             f"got {tuple(images.shape)}")

    def projected_patches(self, images: torch.Tensor, previous: torch.Tensor | None = None) -> torch.Tensor:
        """Unnormalised projected patch embeddings [B, D, h, w] (no intensity normalisation: hi-ml has none)."""
        self._check_images(images)
        return self.image_model(images, previous)

    def encode_images(self, images: torch.Tensor) -> ImageEmbeddings:
        projected = self.projected_patches(images)
        global_ = F.normalize(projected.mean(dim=(2, 3)), dim=-1)
        patches = F.normalize(projected, dim=1).permute(0, 2, 3, 1)
        return ImageEmbeddings(global_=global_, patches=patches)

    def encode_image_features(self, images: torch.Tensor) -> ImageEmbeddings:
        """The trunk's map before the projector (2048-d for ResNet-50), unnormalised; global = its mean."""
        self._check_images(images)
        features = self.image_model.patch_features(images)
        return ImageEmbeddings(global_=features.mean(dim=(2, 3)), patches=features.permute(0, 2, 3, 1))

    # ---- texts ----------------------------------------------------------------------------------
    def prepare_prompts(self, texts: list[str]) -> list[str]:
        """hi-ml's prompt rules: no special token but [MASK]; trailing '!', '?' and '.' stripped."""
        if isinstance(texts, str):
            raise TypeError("encode_texts takes a list of strings, not a string")
        special = [t for t in self.tokenizer.all_special_tokens if t != self.tokenizer.mask_token]
        for text in texts:
            found = [t for t in special if t in text]
            if found:
                raise ValueError(f"the phrase {text!r} contains the special token(s) {found}; only "
                                 f"{self.tokenizer.mask_token} is allowed")
        return [text.rstrip("!?.") for text in texts]

    def tokenize(self, texts: list[str]):
        """Padded to the longest, never truncated; a phrase over the position limit is a ValueError."""
        batch = self.tokenizer(self.prepare_prompts(texts), add_special_tokens=True, padding="longest",
                               return_tensors="pt")
        length = batch["input_ids"].shape[1]
        if length > self.max_text_tokens:
            longest = max(texts, key=lambda t: len(self.tokenizer.tokenize(t.rstrip("!?."))))
            raise ValueError(f"a phrase has {length} tokens, more than {self.meta.name}'s limit of "
                             f"{self.max_text_tokens}: {longest[:80]!r}...")
        return batch

    def count_text_tokens(self, texts: list[str]) -> list[int]:
        """Tokens per phrase as the model sees it (specials included, after the prompt rules)."""
        return [len(ids) for ids in self.tokenizer(self.prepare_prompts(texts), add_special_tokens=True)["input_ids"]]

    def encode_texts(self, texts: list[str], normalize: bool = True) -> torch.Tensor:
        if isinstance(texts, str):
            raise TypeError("encode_texts takes a list of strings, not a string")
        batch = self.tokenize(list(texts))
        device = next(self.text_model.parameters()).device
        return self.text_model.get_projected_text_embeddings(
            input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device),
            normalize_embeddings=normalize)

    def text_encoder_for_finetuning(self):
        """(BertModel without pooler, tokenizer): the [CLS] state of its last layer is what CXR-BERT projects."""
        return self.text_model.bert, self.tokenizer

    def masked_lm(self):
        """CXR-BERT with its MLM head (a transformers `BertForMaskedLM`), and the tokenizer."""
        return self.text_model, self.tokenizer


class BioViLTAdapter(BioViLAdapter):
    """BioViL-T: the single-image path by default (as hi-ml's inference); `encode_image_pairs` for priors."""

    capabilities = frozenset({GLOBAL, PATCHES, TEXT, TEXT_ENCODER, FEATURES, MLM, IMAGE_PAIRS})

    def encode_image_pairs(self, current: torch.Tensor, previous: torch.Tensor | None) -> ImageEmbeddings:
        """Embeddings of `current` with its prior study fused in by the temporal ViT pooler (a 14x14 grid: crop
        448), as hi-ml's `MultiImageModel(current, previous)`; `previous` None is its absent-prior path (the learnt
        missing-prior embedding, the same numbers as `encode_images`)."""
        if previous is not None:
            self._check_images(previous)
        projected = self.projected_patches(current, previous)
        return ImageEmbeddings(global_=F.normalize(projected.mean(dim=(2, 3)), dim=-1),
                               patches=F.normalize(projected, dim=1).permute(0, 2, 3, 1))


def _build(name: str, options: dict) -> BioViLAdapter:
    options = BUILTIN[name].options.parse(options, name)
    multi = name == "biovil-t"
    placement = options["geometry"]
    if name == "biovil-l" and not options["checkpoint"]:
        raise ValueError("biovil-l has no released weights: pass --model-arg checkpoint=DIR (a run of "
                         "`msxr-bench train --model biovil-l`)")
    if options["checkpoint"]:
        if options["image_weights"] or options["text_model"]:
            raise ValueError("--model-arg checkpoint excludes image_weights and text_model")
        return _build_from_checkpoint(name, options, placement)
    hub = BIOVIL_T_IMAGE_FILE if multi else BIOVIL_IMAGE_FILE
    revision = options["revision"]
    if revision and revision != hub.revision:  # official checksums belong to the pinned revision only
        hub = replace(hub, revision=revision, md5=None, sha256=None)
    image_file = resolve_image_weights(options["image_weights"], hub, options["verify"])
    text_files = resolve_text_model(options["text_model"], hub.repo_id, hub.revision, revision)
    image_model = load_image_model(image_file, BIOVIL_T_IMAGE_CONFIG if multi else BIOVIL_IMAGE_CONFIG)
    text_model = load_text_model(text_files)
    meta = AdapterMeta(
        name=name, version=ADAPTER_VERSION,
        description=("BioViL-T (ResNet-50 + temporal ViT fusion + CXR-BERT), current-image path" if multi
                     else "BioViL (ResNet-50 + CXR-BERT-specialized)"),
        weights_source=f"image {image_file.source}; text {text_files.weights.source} "
                       f"({text_files.weights.path.name} sha256 {text_files.weights.sha256})",
        weights_revision=image_file.revision, weights_sha256=image_file.sha256,
        embedding_dim=image_model.config.joint_feature_size, training_data=("MIMIC-CXR",), licence="MIT",
        map_rescale="none")
    resize, crop = options["resize"] or DEFAULT_RESIZE, options["crop"] or (448 if multi else 480)
    return _assemble(name, image_model, text_model, load_tokenizer(text_files.directory), meta, resize, crop,
                     SMOOTHING_SIGMA, placement)


def _build_from_checkpoint(name: str, options: dict, placement: str) -> BioViLAdapter:
    directory = Path(options["checkpoint"]).expanduser()
    config = read_checkpoint_config(directory)
    if config.model != name:
        raise ValueError(f"checkpoint {directory} holds a {config.model} model; use --model {config.model}")
    image_path = directory / IMAGE_WEIGHTS_NAME
    image_file = WeightFile(image_path, file_sha256(image_path), str(directory))
    text_dir = directory / TEXT_SUBDIR
    text_weights = text_weights_in(text_dir)
    text_files = TextModelFiles(text_dir, WeightFile(text_weights, file_sha256(text_weights), str(text_dir)))
    image_model = load_image_model(image_file, config.image)
    text_model = load_text_model(text_files)
    meta = AdapterMeta(
        name=name, version=ADAPTER_VERSION, description=config.description or f"{name} trained with msxr-bench",
        weights_source=f"checkpoint {directory} (text {text_weights.name} sha256 {text_files.weights.sha256})",
        weights_sha256=image_file.sha256, embedding_dim=config.image.joint_feature_size,
        training_data=config.training_data, licence="unknown",
        map_rescale="minmax" if name == "biovil-l" else "none")  # paper A.4: BioViL-L maps min-max scaled
    resize, crop = options["resize"] or config.resize, options["crop"] or config.crop
    return _assemble(name, image_model, text_model, load_tokenizer(text_dir), meta, resize, crop,
                     config.smoothing_sigma, placement)


def _assemble(name: str, image_model: BioViLImageModel, text_model: CXRBertModel, tokenizer: BertTokenizer,
              meta: AdapterMeta, resize: int, crop: int, sigma: float | None, placement: str) -> BioViLAdapter:
    if not 0 < crop <= resize:
        raise ValueError(f"need 0 < crop <= resize, got crop {crop}, resize {resize}")
    if image_model.config.joint_feature_size != text_model.config.projection_size:
        raise ValueError(f"image projection {image_model.config.joint_feature_size} != text projection "
                         f"{text_model.config.projection_size}: the two models do not belong together")
    # BioViL-T's single-image path works on any grid; only encode_image_pairs needs the ViT's 14x14
    geometry = Geometry("resize_crop", resize=resize, crop=crop, grid=image_model.grid_size(crop),
                        smoothing_sigma=sigma)
    cls = BioViLTAdapter if name == "biovil-t" else BioViLAdapter
    return cls(image_model, text_model, tokenizer, meta, geometry, placement)


def build_biovil(**options: str) -> BioViLAdapter:
    """BioViL (Boecking et al., ECCV 2022) with the released weights or local files in their formats."""
    return _build("biovil", options)


def build_biovil_l(**options: str) -> BioViLAdapter:
    """BioViL-L (BioViL + GLoRIA's local loss) trained with this toolkit: `checkpoint=DIR`."""
    return _build("biovil-l", options)


def build_biovil_t(**options: str) -> BioViLTAdapter:
    """BioViL-T (Bannur et al., CVPR 2023), current-image path, with the released weights."""
    return _build("biovil-t", options)
