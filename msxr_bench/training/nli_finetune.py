"""Fine-tune a text encoder for 3-way NLI (entailment / neutral / contradiction) with model selection
on a development set: the classifier, the training loop with early stopping, prediction and saving.

The encoder is the adapter's (`text_encoder_for_finetuning()`); it is deep-copied, never modified.
Metrics live in `msxr_bench.metrics.nli`, the RadNLI protocol over seeds in `training/nli_protocol.py`.
"""

from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup

from msxr_bench.data.types import NLI_LABELS, NLIPair
from msxr_bench.training.nli_batches import EncodedPairs, bucketed_batches, collate, encode_pairs, sorted_batches
from msxr_bench.training.nli_config import NLIFinetuneConfig


def base_encoder(encoder: nn.Module) -> nn.Module:
    """The bare transformer of `encoder`: a BertModel stays itself, a BertForMaskedLM gives its `.bert`."""
    base = getattr(encoder, "base_model", None)
    return base if isinstance(base, nn.Module) else encoder


def fresh_encoder_copy(encoder: nn.Module) -> nn.Module:
    """A trainable deep copy of the bare transformer; the adapter's own module is left untouched
    (adapters usually hold it frozen in eval mode)."""
    return copy.deepcopy(base_encoder(encoder)).requires_grad_(True)


class NLIClassifier(nn.Module):
    """An encoder plus dropout and a linear layer on the [CLS] state (BertForSequenceClassification's head)."""

    def __init__(self, encoder: nn.Module, num_labels: int = len(NLI_LABELS), dropout: float | None = None,
                 pooling: str = "cls") -> None:
        super().__init__()
        self.encoder = encoder
        config = getattr(encoder, "config", None)
        hidden = getattr(config, "hidden_size", None)
        if hidden is None:
            raise ValueError(f"text encoder {type(encoder).__name__} has no config.hidden_size")
        if pooling not in ("cls", "pooler"):
            raise ValueError(f"pooling must be 'cls' or 'pooler', got {pooling!r}")
        if pooling == "pooler" and getattr(encoder, "pooler", None) is None:
            raise ValueError(f"pooling='pooler' but {type(encoder).__name__} has no pooler; use pooling='cls'")
        if dropout is None:
            dropout = getattr(config, "classifier_dropout", None)
            dropout = dropout if dropout is not None else getattr(config, "hidden_dropout_prob", 0.1)
        self.pooling = pooling
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden, num_labels)
        std = getattr(config, "initializer_range", 0.02)
        nn.init.normal_(self.classifier.weight, mean=0.0, std=std)
        nn.init.zeros_(self.classifier.bias)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        out = self.encoder(**kwargs, return_dict=True)
        pooled = out.pooler_output if self.pooling == "pooler" else out.last_hidden_state[:, 0]
        return self.classifier(self.dropout(pooled))


@dataclass
class NLIFinetuneRun:
    """One fine-tuning run: the selected model (best dev epoch, eval mode) and what happened."""

    model: NLIClassifier
    seed: int
    best_epoch: int  # 1-based
    best_dev_accuracy: float
    history: list[dict] = field(default_factory=list)  # per epoch: epoch, train_loss, dev_accuracy, seconds
    stopped_early: bool = False
    amp_dtype: str | None = None
    wall_s: float = 0.0


def _inputs(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items() if k != "labels"}


def _amp_dtype(config: NLIFinetuneConfig, device: torch.device) -> torch.dtype | None:
    if device.type != "cuda" or config.mixed_precision == "off":
        return None
    if config.mixed_precision == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if config.mixed_precision == "bf16" else torch.float16


@torch.no_grad()
def predict_encoded(model: NLIClassifier, encoded: EncodedPairs, batch_size: int, device: torch.device,
                    amp_dtype: torch.dtype | None = None) -> torch.Tensor:
    """Predicted label indices [N] (CPU, in the order of `encoded`)."""
    was_training = model.training
    model.eval()
    preds = torch.empty(len(encoded), dtype=torch.long)
    for idx in sorted_batches(encoded.lengths, batch_size):
        batch = collate(encoded, idx)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            logits = model(**_inputs(batch, device))
        preds[idx] = logits.argmax(dim=-1).cpu()
    model.train(was_training)
    return preds


def _optimizer(model: nn.Module, config: NLIFinetuneConfig) -> torch.optim.Optimizer:
    no_decay: set[int] = set()
    for module in model.modules():
        if isinstance(module, nn.LayerNorm):
            no_decay.update(id(p) for p in module.parameters(recurse=False))
    for name, p in model.named_parameters():
        if name.endswith("bias"):
            no_decay.add(id(p))
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if id(p) not in no_decay], "weight_decay": config.weight_decay},
        {"params": [p for p in params if id(p) in no_decay], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=config.learning_rate, eps=config.adam_epsilon)


def finetune_nli(encoder: nn.Module, tokenizer, train: list[NLIPair], dev: list[NLIPair],
                 config: NLIFinetuneConfig = NLIFinetuneConfig(), seed: int = 0,
                 device: str | torch.device = "cpu", progress: bool = True,
                 train_source: str = "train", dev_source: str = "dev") -> NLIFinetuneRun:
    """Fine-tune a fresh copy of `encoder` on `train`, keep the epoch with the best `dev` accuracy.

    Deterministic on CPU for a seed: the head, dropout and the batch order all derive from `seed`.
    Early stopping after `config.patience` epochs without a strictly better dev accuracy.
    """
    start = time.perf_counter()
    device = torch.device(device)
    train_enc = encode_pairs(tokenizer, train, config.max_length, train_source)
    dev_enc = encode_pairs(tokenizer, dev, config.max_length, dev_source)
    torch.manual_seed(seed)
    shuffle = torch.Generator().manual_seed(seed)
    model = NLIClassifier(fresh_encoder_copy(encoder), dropout=config.classifier_dropout,
                          pooling=config.pooling).to(device)
    amp_dtype = _amp_dtype(config, device)
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
    steps_per_epoch = math.ceil(len(train_enc) / config.batch_size)
    total = steps_per_epoch * config.max_epochs
    optimizer = _optimizer(model, config)
    scheduler = get_linear_schedule_with_warmup(optimizer, round(config.warmup_ratio * total), total)
    loss_fn = nn.CrossEntropyLoss()
    best_acc, best_epoch, best_state, stale = -1.0, 0, None, 0
    history: list[dict] = []
    for epoch in range(1, config.max_epochs + 1):
        t0 = time.perf_counter()
        model.train()
        batches = bucketed_batches(train_enc.lengths, config.batch_size, shuffle, config.bucket_batches)
        loss_sum, seen = 0.0, 0
        bar = tqdm(batches, desc=f"NLI seed {seed} epoch {epoch}", disable=not progress, leave=False)
        for idx in bar:
            batch = collate(train_enc, idx)
            labels = batch["labels"].to(device)
            with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                logits = model(**_inputs(batch, device))
            loss = loss_fn(logits.float(), labels)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            loss_sum += loss.item() * len(idx)
            seen += len(idx)
            bar.set_postfix(loss=f"{loss_sum / seen:.4f}")
        preds = predict_encoded(model, dev_enc, config.eval_batch_size, device, amp_dtype)
        dev_acc = (preds == dev_enc.labels).float().mean().item()
        history.append({"epoch": epoch, "train_loss": loss_sum / seen, "dev_accuracy": dev_acc,
                        "seconds": time.perf_counter() - t0})
        if dev_acc > best_acc:
            best_acc, best_epoch, stale = dev_acc, epoch, 0
            best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        else:
            stale += 1
            if stale >= config.patience:
                break
    model.load_state_dict(best_state)
    model.eval()
    return NLIFinetuneRun(model=model, seed=seed, best_epoch=best_epoch, best_dev_accuracy=best_acc,
                          history=history, stopped_early=len(history) < config.max_epochs,
                          amp_dtype=None if amp_dtype is None else str(amp_dtype).removeprefix("torch."),
                          wall_s=time.perf_counter() - start)


def predict_nli(run: NLIFinetuneRun, tokenizer, pairs: list[NLIPair], config: NLIFinetuneConfig,
                device: str | torch.device = "cpu", source: str = "") -> torch.Tensor:
    """Predicted label indices (into NLI_LABELS) of `pairs` by the selected model of `run`."""
    device = torch.device(device)
    encoded = encode_pairs(tokenizer, pairs, config.max_length, source)
    amp = torch.bfloat16 if run.amp_dtype == "bfloat16" else torch.float16 if run.amp_dtype == "float16" else None
    return predict_encoded(run.model, encoded, config.eval_batch_size, device, amp)


def save_nli_model(run: NLIFinetuneRun, tokenizer, config: NLIFinetuneConfig, out_dir: Path) -> Path:
    """Write the selected model (safetensors), the encoder config, the tokenizer and the head's description."""
    from safetensors.torch import save_file

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in run.model.state_dict().items()}
    save_file(state, str(out_dir / "model.safetensors"))
    enc_config = getattr(run.model.encoder, "config", None)
    if enc_config is not None and hasattr(enc_config, "save_pretrained"):
        enc_config.save_pretrained(str(out_dir))
    if hasattr(tokenizer, "save_pretrained"):
        tokenizer.save_pretrained(str(out_dir))
    meta = {"labels": list(NLI_LABELS), "pooling": run.model.pooling, "seed": run.seed,
            "best_epoch": run.best_epoch, "best_dev_accuracy": run.best_dev_accuracy,
            "hyperparameters": config.to_dict(),
            "state_dict_prefixes": {"encoder.": "the transformer", "classifier.": "the NLI head"}}
    (out_dir / "nli_head.json").write_text(json.dumps(meta, indent=2))
    return out_dir
