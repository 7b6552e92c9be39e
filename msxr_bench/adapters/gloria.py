"""GLoRIA adapter (Huang et al., ICCV 2021; marshuang80/gloria @ 416466a).

Options (`--model-arg key=value`): `adapters/catalog.py` declares them (`msxr-bench list --model gloria`).
map=cosine is cosine(region, sentence) on the 19x19 layer3 grid (default; the paper's comparison), map=attention
GLoRIA's word->region attention averaged over the phrase's words; zero_shot: models/gloria_zero_shot.py.

Texts are cleaned as upstream's `process_text` but keep one-word sentences (a phrase "Pneumothorax" would
otherwise vanish), except zero-shot prompts in `released` mode. Embeddings are L2-normalised for the
contract; the raw (upstream) local and global image embeddings travel in
`ImageEmbeddings.extras["local"|"global"]` for the attention maps and zero-shot scores. Scores are not on
BioViL's scale: `map_rescale="minmax"` (paper A.3). Zero-shot classification with GLoRIA's own scores:
`prompt_similarities` per image batch, then `class_scores_from_similarities` on the whole set.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
from collections import OrderedDict
from pathlib import Path
from typing import Mapping, Sequence

import torch
import torch.nn.functional as F

from msxr_bench.adapters.base import GLOBAL, PATCHES, TEXT, TEXT_ENCODER, AdapterMeta, EncoderAdapter, ImageEmbeddings
from msxr_bench.adapters.catalog import BUILTIN, GLORIA_MAP_KINDS as MAP_KINDS
from msxr_bench.geometry.types import Geometry
from msxr_bench.adapters.gloria_checkpoint_dir import load_gloria_checkpoint
from msxr_bench.adapters.gloria_weights import MISSING_WEIGHTS_HELP, load_converted_model, resolve_text_files
from msxr_bench.adapters.weights import WeightsUnavailableError
from msxr_bench.hashing import file_sha256
from msxr_bench.models.gloria_attention import word_region_alignment
from msxr_bench.models.gloria_image import normalize_intensity
from msxr_bench.models.gloria_model import GloriaModel
from msxr_bench.models.gloria_text import clean_report_text, word_count
from msxr_bench.models.gloria_zero_shot import ZERO_SHOT_MODES, class_scores, zero_shot_cap_lens, zero_shot_similarities
from msxr_bench.models.resnet import channels_last

log = logging.getLogger(__name__)

ADAPTER_VERSION = "1.0"
_MEMORY_SIZE = 4096
UPSTREAM_LICENCE = "Apache-2.0"  # marshuang80/gloria LICENSE (the checkpoint has no licence of its own)


class GloriaAdapter(EncoderAdapter):
    capabilities = frozenset({GLOBAL, PATCHES, TEXT, TEXT_ENCODER})

    def __init__(self, model: GloriaModel, meta: AdapterMeta, map_kind: str = "cosine", zero_shot: str = "fixed"):
        super().__init__()
        if map_kind not in MAP_KINDS:
            raise ValueError(f"map must be one of {MAP_KINDS}, got {map_kind!r}")
        if zero_shot not in ZERO_SHOT_MODES:
            raise ValueError(f"zero_shot must be one of {ZERO_SHOT_MODES}, got {zero_shot!r}")
        self.model = model.eval()
        channels_last(self.model.img_encoder)
        self.meta, self.map_kind, self.zero_shot_mode = meta, map_kind, zero_shot
        c = model.config
        self.geometry = Geometry("letterbox_crop", resize=c.resize, crop=c.crop, grid=model.img_encoder.grid_size)
        self.max_text_tokens = c.word_num
        # upstream's cleaning drops one-word sentences: kept for zero-shot prompts in released mode only;
        # everywhere else (grounding phrases such as "Pneumothorax", RadNLI) one-word sentences are kept
        self.prompt_min_sentence_tokens = 2 if zero_shot == "released" else 1
        self._word_memory: OrderedDict[str, tuple[torch.Tensor, list[torch.Tensor]]] = OrderedDict()
        self._prompt_cache: dict[tuple[str, ...], tuple[torch.Tensor, torch.Tensor, list[int]]] = {}

    @property
    def tokenizer(self):
        return self.model.tokenizer

    # ---- images ---------------------------------------------------------------------------------
    def encode_images(self, images: torch.Tensor) -> ImageEmbeddings:
        crop = self.geometry.crop
        if images.ndim != 4 or tuple(images.shape[1:]) != (3, crop, crop):
            raise ValueError(f"gloria expects images [B, 3, {crop}, {crop}] in [0, 1], got {tuple(images.shape)}")
        local, global_ = self.model.image_encoder_forward(normalize_intensity(images))
        patches = F.normalize(local, dim=1).permute(0, 2, 3, 1)
        return ImageEmbeddings(global_=F.normalize(global_, dim=-1), patches=patches,
                               extras={"local": local, "global": global_})

    # ---- texts ----------------------------------------------------------------------------------
    def _device(self) -> torch.device:
        return next(self.model.parameters()).device

    def encode_raw_texts(self, texts: Sequence[str], min_sentence_tokens: int = 1
                         ) -> tuple[torch.Tensor, torch.Tensor, list[list[str]]]:
        """Upstream text forward: (words [N, D, 97], sentences [N, D], merged words), unnormalised.
        `min_sentence_tokens=2` is upstream's cleaning (one-word sentences dropped)."""
        if isinstance(texts, str):
            raise TypeError("encode_texts takes a list of strings, not a string")
        batch = self.model.text_encoder.tokenize(list(texts), min_sentence_tokens)
        batch = {k: v.to(self._device()) for k, v in batch.items()}
        return self.model.text_encoder_forward(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])

    def count_text_tokens(self, texts: list[str]) -> list[int]:
        """Word pieces per text as the model sees it (after GLoRIA's cleaning, [CLS]/[SEP] included)."""
        cleaned = [clean_report_text(t, 1) for t in texts]
        return [len(ids) for ids in self.tokenizer(cleaned, add_special_tokens=True)["input_ids"]]

    @staticmethod
    def _word_slices(words: torch.Tensor, sents: list[list[str]]) -> list[torch.Tensor]:
        """Each text's real words [D, n] (slots 1..n: [CLS], [SEP] and padding excluded)."""
        return [w[:, 1:1 + word_count(s)] for w, s in zip(words, sents)]

    def encode_texts(self, texts: list[str], normalize: bool = True) -> torch.Tensor:
        words, sent, sents = self.encode_raw_texts(texts)
        unit = F.normalize(sent, dim=-1)
        for text, u, w in zip(texts, unit, self._word_slices(words, sents)):
            if w.shape[1] == 0:
                log.warning("gloria: %r has no words left after GLoRIA's text cleaning", text)
            if self.map_kind == "attention":
                self._remember(u, [w])
        return unit if normalize else sent

    def embed_prompt_list(self, prompts: list[str]) -> torch.Tensor:
        """Mean of the raw sentence embeddings, then L2 (the contract's rule); remembers all prompts' words."""
        words, sent, sents = self.encode_raw_texts(prompts)
        out = F.normalize(sent.mean(dim=0), dim=-1)
        if self.map_kind == "attention":
            self._remember(out, self._word_slices(words, sents))
        return out

    def text_encoder_for_finetuning(self):
        """(BertModel, tokenizer): GLoRIA's ClinicalBERT."""
        return self.model.text_encoder.model, self.tokenizer

    # ---- grounding ------------------------------------------------------------------------------
    @staticmethod
    def _key(unit: torch.Tensor) -> str:
        return hashlib.sha1(unit.detach().float().cpu().numpy().round(5).tobytes()).hexdigest()

    def _remember(self, unit: torch.Tensor, words: list[torch.Tensor]) -> None:
        key = self._key(unit)
        self._word_memory[key] = (unit.detach().float(), [w.detach() for w in words])
        self._word_memory.move_to_end(key)
        while len(self._word_memory) > _MEMORY_SIZE:
            self._word_memory.popitem(last=False)

    def _words_of(self, text: torch.Tensor) -> list[torch.Tensor]:
        """The word embeddings behind a text embedding this adapter produced (matched by content)."""
        units = torch.stack([u.to(text.device) for u, _ in self._word_memory.values()]) if self._word_memory else None
        if units is not None:
            best = (units @ F.normalize(text.float(), dim=-1)).max(dim=0)
            if best.values > 1 - 1e-4:
                return list(self._word_memory.values())[int(best.indices)][1]
        raise ValueError("map=attention needs text embeddings made by this adapter's encode_texts or "
                         "embed_prompt_list (word-level embeddings are looked up from them)")

    def similarity_grid(self, images: ImageEmbeddings, texts: torch.Tensor) -> torch.Tensor:
        """[B, T, h, w]: region-sentence cosine (map=cosine) or mean word->region attention (map=attention)."""
        if self.map_kind == "cosine":
            return torch.einsum("bhwd,td->bthw", images.patches, texts.to(images.patches.dtype))
        local = images.extras["local"]
        grids = []
        for text in texts:
            maps = []
            for words in self._words_of(text):
                if words.shape[1] == 0:
                    raise ValueError("map=attention: a text has no words after GLoRIA's text cleaning")
                _, attn, _ = word_region_alignment(local, words.to(local)[None], [words.shape[1]],
                                                   self.model.config.temp1)
                maps.append(attn[:, 0].mean(dim=1))  # [B, h, w], mean over the words
            grids.append(torch.stack(maps).mean(dim=0))
        return torch.stack(grids, dim=1)

    # ---- zero-shot classification ---------------------------------------------------------------
    def prompt_similarities(self, images: ImageEmbeddings, prompts: Sequence[str]) -> torch.Tensor:
        """[B, P] upstream `get_similarities(..., "both")` = (local + global) / 2 in this adapter's zero-shot
        mode. Per image (not transductive): compute it batch by batch and concatenate."""
        key = tuple(prompts)
        if key not in self._prompt_cache:
            words, sent, sents = self.encode_raw_texts(list(prompts), self.prompt_min_sentence_tokens)
            self._prompt_cache[key] = (words, sent, zero_shot_cap_lens(prompts, sents, self.zero_shot_mode,
                                                                       words.shape[2]))
        words, sent, lens = self._prompt_cache[key]
        local, global_ = images.extras["local"], images.extras["global"]
        return zero_shot_similarities(local, global_, words.to(local), sent.to(local), lens)

    def class_scores_from_similarities(self, similarities: torch.Tensor,
                                       class_prompts: Mapping[str, Sequence[str]]) -> torch.Tensor:
        """[N, C] class scores from [N, P] `prompt_similarities` of the prompts of `class_prompts` in order.
        `released` z-scores each class over the N rows, as upstream: pass the whole evaluation set."""
        sizes = [len(class_prompts[name]) for name in class_prompts]
        if sum(sizes) != similarities.shape[1]:
            raise ValueError(f"{similarities.shape[1]} prompt similarities for {sum(sizes)} class prompts")
        mask = torch.zeros(len(sizes), sum(sizes), dtype=torch.bool)
        for c, start in enumerate(itertools.accumulate([0] + sizes[:-1])):
            mask[c, start:start + sizes[c]] = True
        return class_scores(similarities, mask, self.zero_shot_mode)

    def zero_shot_class_scores(self, images: ImageEmbeddings,
                               class_prompts: Mapping[str, Sequence[str]]) -> torch.Tensor:
        """[B, C] class scores (columns in `class_prompts` order) of the B images passed."""
        prompts = [p for name in class_prompts for p in class_prompts[name]]
        return self.class_scores_from_similarities(self.prompt_similarities(images, prompts), class_prompts)


def _meta(source: str, sha: str | None, training_data: tuple[str, ...], description: str, map_kind: str,
          zero_shot: str, embedding_dim: int, licence: str) -> AdapterMeta:
    return AdapterMeta(name="gloria", version=f"{ADAPTER_VERSION}+zero_shot={zero_shot}+map={map_kind}",
                       description=f"{description} [zero_shot={zero_shot}, map={map_kind}]", weights_source=source,
                       weights_sha256=sha, embedding_dim=embedding_dim, training_data=training_data, licence=licence,
                       map_rescale="minmax")


def build_gloria(**options: str) -> GloriaAdapter:
    """GLoRIA from a converted released checkpoint (`weights=`) or a toolkit checkpoint (`checkpoint=`)."""
    options = BUILTIN["gloria"].options.parse(options, "gloria")
    map_kind, zero_shot = options["map"], options["zero_shot"]
    if options["checkpoint"]:
        if options["weights"] or options["text_model"]:
            raise ValueError("--model-arg checkpoint excludes weights and text_model")
        ckpt = load_gloria_checkpoint(options["checkpoint"])
        meta = _meta(f"checkpoint {Path(options['checkpoint']).expanduser()}", file_sha256(ckpt.weights),
                     ckpt.training_data, ckpt.description or "GLoRIA trained with msxr-bench", map_kind, zero_shot,
                     ckpt.model.config.embedding_dim, "unknown")
        return GloriaAdapter(ckpt.model, meta, map_kind, zero_shot)
    if not options["weights"]:
        raise WeightsUnavailableError(MISSING_WEIGHTS_HELP)
    weights = Path(options["weights"]).expanduser()
    text = resolve_text_files(options["text_model"], options["revision"])
    model, converted = load_converted_model(weights, text)
    md = converted.metadata
    source = (f"{weights} (converted by msxr-bench {md['converter_version']} from {md.get('source_file')} sha256 "
              f"{md.get('source_sha256')}); tokenizer/config {text.source}")
    meta = _meta(source, file_sha256(weights), ("CheXpert",), "GLoRIA (ResNet-50 + Bio_ClinicalBERT), CheXpert",
                 map_kind, zero_shot, model.config.embedding_dim, UPSTREAM_LICENCE)
    return GloriaAdapter(model, meta, map_kind, zero_shot)
