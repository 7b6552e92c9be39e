"""ConVIRT adapter (Zhang et al. 2020): ResNet + BERT with MLP heads into a 512-d joint space (models/convirt.py).

Options (`--model-arg key=value`): `adapters/catalog.py` declares them. A `checkpoint=` trained with this toolkit
is required: ConVIRT has no official weights (yuhaozhang/convirt releases only its retrieval sets).

Grounding: ConVIRT has no local head. The patch embeddings are the image projection MLP applied point-wise to
the layer4 grid (7x7 at 224 px), i.e. the same head that makes the global embedding, before pooling; a map is
their cosine with the text embedding. Nothing trains these per-cell scores to sit on BioViL's cosine scale, so
the adapter declares `map_rescale="minmax"` (paper A.3, as for GLoRIA): threshold metrics see each map
min-max rescaled to [-1, 1]; CNR is unaffected by that affine rescaling.

Third-party ConVIRT weights (vilmedic / BenchX `ConVIRT`: RoBERTa `pooler_output`, 768-d heads) are a
different architecture and are not loaded here.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import PreTrainedTokenizerBase

from msxr_bench.adapters.base import GLOBAL, PATCHES, TEXT, TEXT_ENCODER, AdapterMeta, EncoderAdapter, ImageEmbeddings
from msxr_bench.adapters.catalog import BUILTIN
from msxr_bench.geometry.types import Geometry
from msxr_bench.adapters.convirt_checkpoint import load_convirt_checkpoint
from msxr_bench.adapters.weights import WeightsUnavailableError
from msxr_bench.hashing import file_sha256
from msxr_bench.models.convirt import ConvirtModel
from msxr_bench.models.resnet import channels_last

ADAPTER_VERSION = "1.0"
NO_WEIGHTS_HELP = (
    "ConVIRT has no official weights (yuhaozhang/convirt publishes only its CheXpert retrieval sets).\n"
    "  Train one with this toolkit:  msxr-bench train --model convirt --data-root DATA_ROOT --output RUN\n"
    "  then pass:                    --model-arg checkpoint=RUN/checkpoint"
)


class ConvirtAdapter(EncoderAdapter):
    """Global: g_v(avgpool(layer4)); patches: g_v on each layer4 cell; text: g_u(pool(BERT)); all L2-normalised."""

    capabilities = frozenset({GLOBAL, PATCHES, TEXT, TEXT_ENCODER})

    def __init__(self, model: ConvirtModel, tokenizer: PreTrainedTokenizerBase, meta: AdapterMeta,
                 geometry: Geometry) -> None:
        super().__init__()
        self.model = model.eval()
        channels_last(self.model.image_encoder)
        self.tokenizer = tokenizer
        self.meta = meta
        self.geometry = geometry
        self.max_text_tokens = min(model.config.max_text_tokens, model.bert_config.max_position_embeddings)

    def _device(self) -> torch.device:
        return next(self.model.parameters()).device

    def encode_images(self, images: torch.Tensor) -> ImageEmbeddings:
        crop = self.geometry.crop
        if images.ndim != 4 or tuple(images.shape[1:]) != (3, crop, crop):
            raise ValueError(f"convirt expects images [B, 3, {crop}, {crop}] in [0, 1], got {tuple(images.shape)}")
        global_, patches = self.model.image_embeddings(images)
        return ImageEmbeddings(global_=F.normalize(global_, dim=-1), patches=F.normalize(patches, dim=-1))

    def tokenize(self, texts: list[str]) -> dict[str, torch.Tensor]:
        """Padded to the longest, never truncated; a text over the token limit is a ValueError."""
        if isinstance(texts, str):
            raise TypeError("encode_texts takes a list of strings, not a string")
        batch = self.tokenizer(list(texts), padding="longest", return_tensors="pt")
        if batch["input_ids"].shape[1] > self.max_text_tokens:
            counts = self.count_text_tokens(list(texts))
            longest = texts[max(range(len(texts)), key=counts.__getitem__)]
            raise ValueError(f"a text has {max(counts)} tokens, more than convirt's limit of "
                             f"{self.max_text_tokens}: {longest[:80]!r}...")
        return batch

    def count_text_tokens(self, texts: list[str]) -> list[int]:
        """Word pieces per text, [CLS] and [SEP] included."""
        return [len(ids) for ids in self.tokenizer(list(texts))["input_ids"]]

    def encode_texts(self, texts: list[str], normalize: bool = True) -> torch.Tensor:
        batch = self.tokenize(texts)
        device = self._device()
        emb = self.model.text_embeddings(batch["input_ids"].to(device), batch["attention_mask"].to(device))
        return F.normalize(emb, dim=-1) if normalize else emb

    def text_encoder_for_finetuning(self):
        """(BertModel, tokenizer): ConVIRT's text encoder before pooling and projection."""
        return self.model.text_encoder, self.tokenizer


def build_convirt(**options: str) -> ConvirtAdapter:
    """ConVIRT from a checkpoint directory written by `msxr-bench train --model convirt`."""
    options = BUILTIN["convirt"].options.parse(options, "convirt")
    if not options["checkpoint"]:
        raise WeightsUnavailableError(NO_WEIGHTS_HELP)
    directory = Path(options["checkpoint"]).expanduser()
    ckpt = load_convirt_checkpoint(directory)
    config = ckpt.model.config
    resize, crop = options["resize"] or config.resize, options["crop"] or config.crop
    if not 0 < crop <= resize:
        raise ValueError(f"need 0 < crop <= resize, got crop {crop}, resize {resize}")
    geometry = Geometry("resize_crop", resize=resize, crop=crop, grid=ckpt.model.grid_size(crop))
    meta = AdapterMeta(
        name="convirt", version=f"{ADAPTER_VERSION}+pooling={config.pooling}",
        description=ckpt.description or f"ConVIRT trained with msxr-bench ({config.pooling} pooling)",
        weights_source=f"checkpoint {directory}", weights_sha256=file_sha256(ckpt.weights),
        embedding_dim=config.embedding_dim, training_data=ckpt.training_data, licence="unknown",
        map_rescale="minmax")
    return ConvirtAdapter(ckpt.model, ckpt.tokenizer, meta, geometry)
