"""The `cxr-bert` adapter: a text model alone, for the text tasks (text-intrinsics, RadNLI, radnli-zs). Any BERT
masked-LM folder or hub id loads: a CXR-BERT (config with `projection_size`, e.g. the `cxr-bert` recipe's export)
declares `text` (projected [CLS] embeddings), `text_encoder` and `mlm`; a plain BERT (ClinicalBERT, PubMedBERT) has
no joint space and declares `text_encoder` and `mlm` only.
"""

from __future__ import annotations

import json

import torch
from transformers import BertConfig, BertForMaskedLM

from msxr_bench.adapters.base import MLM, TEXT, TEXT_ENCODER, AdapterMeta, EncoderAdapter
from msxr_bench.adapters.biovil_weights import TextModelFiles, load_text_model, load_tokenizer, resolve_text_model
from msxr_bench.adapters.catalog import BUILTIN
from msxr_bench.adapters.weights import load_checked, load_state_dict_file

PLAIN_BERT_IGNORED = ("cls.seq_relationship.*", "bert.pooler.*", "*position_ids", "bert.embeddings.token_type_ids")


class TextModelAdapter(EncoderAdapter):
    def __init__(self, model, tokenizer, meta: AdapterMeta, projected: bool) -> None:
        super().__init__()
        self.model, self.tokenizer, self.meta = model.eval(), tokenizer, meta
        self.capabilities = frozenset({TEXT_ENCODER, MLM} | ({TEXT} if projected else set()))
        self.max_text_tokens = int(model.config.max_position_embeddings)

    def encode_texts(self, texts: list[str], normalize: bool = True) -> torch.Tensor:
        if isinstance(texts, str):
            raise TypeError("encode_texts takes a list of strings, not a string")
        batch = self.tokenizer([t.rstrip("!?.") for t in texts], padding="longest", return_tensors="pt")
        if batch["input_ids"].shape[1] > self.max_text_tokens:
            raise ValueError(f"a text has {batch['input_ids'].shape[1]} tokens, more than {self.max_text_tokens}")
        device = next(self.model.parameters()).device
        return self.model.get_projected_text_embeddings(batch["input_ids"].to(device),
                                                        batch["attention_mask"].to(device), normalize)

    def text_encoder_for_finetuning(self):
        return self.model.bert, self.tokenizer

    def masked_lm(self):
        return self.model, self.tokenizer


def _plain_bert(files: TextModelFiles) -> BertForMaskedLM:
    config = BertConfig(**{k: v for k, v in json.loads((files.directory / "config.json").read_text()).items()
                           if k not in ("architectures", "auto_map", "transformers_version", "model_type")})
    model = BertForMaskedLM(config)
    load_checked(model, load_state_dict_file(files.weights.path), str(files.weights.path),
                 ignore_unexpected=PLAIN_BERT_IGNORED, allow_missing=("cls.predictions.decoder.*",))
    model.tie_weights()
    return model


def build_cxr_bert(**options: str) -> TextModelAdapter:
    options = BUILTIN["cxr-bert"].options.parse(options, "cxr-bert")
    if not options["text_model"]:
        raise ValueError("cxr-bert needs --model-arg text_model=DIR|HUB_ID (a CXR-BERT or any BERT masked-LM model)")
    files = resolve_text_model(options["text_model"], options["text_model"], options["revision"] or "main")
    raw = json.loads((files.directory / "config.json").read_text())
    projected = "projection_size" in raw
    model = load_text_model(files) if projected else _plain_bert(files)
    note = files.directory / "msxr-cxr-bert.json"
    extra = json.loads(note.read_text()) if note.is_file() else {}
    meta = AdapterMeta(
        name="cxr-bert", version="1.0", description=extra.get("description") or f"text model {options['text_model']}",
        weights_source=f"{files.weights.source} ({files.weights.path.name})", weights_revision=files.weights.revision,
        weights_sha256=files.weights.sha256, embedding_dim=int(raw["projection_size"]) if projected else None,
        training_data=tuple(extra.get("training_data", ())))
    return TextModelAdapter(model, load_tokenizer(files.directory), meta, projected)
