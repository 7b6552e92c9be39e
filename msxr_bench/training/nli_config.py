"""Hyper-parameters of NLI fine-tuning (RadNLI task): a plain dataclass, importable without torch so that
the task catalogue can show them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal, Mapping


@dataclass(frozen=True)
class NLIFinetuneConfig:
    """Hyper-parameters of NLI fine-tuning (recorded in the results).

    Defaults follow the BERT fine-tuning recipe (Devlin et al. 2019: AdamW, lr 2e-5, batch 16, linear
    warm-up over 10% of the steps then linear decay, weight decay 0.01, gradient clipping 1.0) with the
    BioViL paper's RadNLI protocol: train on MedNLI train, select the epoch on RadNLI dev, at most 20
    epochs. The paper does not state its learning rate, batch size, warm-up or patience.
    """

    learning_rate: float = 2e-5
    batch_size: int = 16
    eval_batch_size: int = 64
    max_epochs: int = 20
    patience: int = 5  # epochs without a better dev accuracy before stopping
    warmup_ratio: float = 0.1  # of the steps of max_epochs epochs
    weight_decay: float = 0.01  # not applied to biases and LayerNorm weights
    max_length: int = 128  # tokens per (premise, hypothesis) pair, longest-first truncation
    classifier_dropout: float | None = None  # None: the encoder's hidden_dropout_prob (as BERT does)
    pooling: Literal["cls", "pooler"] = "cls"  # [CLS] last hidden state, or the encoder's own pooler
    max_grad_norm: float = 1.0
    adam_epsilon: float = 1e-8
    bucket_batches: int = 50  # length bucketing: sort by length within groups of this many batches
    # autocast on CUDA only: "auto" = bf16 where supported, else fp16 (with loss scaling); "off" = fp32
    mixed_precision: Literal["auto", "bf16", "fp16", "off"] = "auto"

    def __post_init__(self) -> None:
        for name in ("batch_size", "eval_batch_size", "max_epochs", "patience", "max_length", "bucket_batches"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"NLI fine-tuning: {name} must be a positive integer, got {getattr(self, name)!r}")
        if self.learning_rate < 0 or self.weight_decay < 0 or not 0 <= self.warmup_ratio <= 1:
            raise ValueError("NLI fine-tuning: learning_rate and weight_decay must be >= 0, warmup_ratio in [0, 1]")
        if self.pooling not in ("cls", "pooler"):
            raise ValueError(f"NLI fine-tuning: pooling must be 'cls' or 'pooler', got {self.pooling!r}")
        if self.mixed_precision not in ("auto", "bf16", "fp16", "off"):
            raise ValueError("NLI fine-tuning: mixed_precision must be auto, bf16, fp16 or off, "
                             f"got {self.mixed_precision!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> "NLIFinetuneConfig":
        """A config from a mapping of field names (e.g. a task's defaults); unknown names are an error."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"unknown NLI fine-tuning hyper-parameter(s): {', '.join(unknown)}; "
                             f"known: {', '.join(sorted(names))}")
        return cls(**values)
