"""Hyper-parameters of NLI fine-tuning (RadNLI task): a pydantic model, importable without torch so that the
task catalogue and `--task-arg radnli.KEY=VALUE` validate them."""

from __future__ import annotations

from typing import Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class NLIFinetuneConfig(BaseModel):
    """Hyper-parameters of NLI fine-tuning (recorded in the results).

    Defaults follow the BERT fine-tuning recipe (Devlin et al. 2019: AdamW, lr 2e-5, batch 16, linear
    warm-up over 10% of the steps then linear decay, weight decay 0.01, gradient clipping 1.0) with the
    BioViL paper's RadNLI protocol: train on MedNLI train, select the epoch on RadNLI dev, at most 20
    epochs. The paper does not state its learning rate, batch size, warm-up or patience.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    learning_rate: float = Field(2e-5, ge=0)
    batch_size: int = Field(16, ge=1)
    eval_batch_size: int = Field(64, ge=1)
    max_epochs: int = Field(20, ge=1)
    patience: int = Field(5, ge=1, description="epochs without a better dev accuracy before stopping")
    warmup_ratio: float = Field(0.1, ge=0, le=1, description="of the steps of max_epochs epochs")
    weight_decay: float = Field(0.01, ge=0, description="not applied to biases and LayerNorm weights")
    max_length: int = Field(128, ge=1, description="tokens per (premise, hypothesis) pair, longest-first truncation")
    classifier_dropout: float | None = Field(None, description="None: the encoder's hidden_dropout_prob (as BERT)")
    pooling: Literal["cls", "pooler"] = Field("cls", description="[CLS] last hidden state, or the encoder's pooler")
    max_grad_norm: float = 1.0
    adam_epsilon: float = 1e-8
    bucket_batches: int = Field(50, ge=1, description="length bucketing: sort by length within groups of batches")
    # autocast on CUDA only: "auto" = bf16 where supported, else fp16 (with loss scaling); "off" = fp32
    mixed_precision: Literal["auto", "bf16", "fp16", "off"] = "auto"

    def to_dict(self) -> dict:
        return self.model_dump(mode="json")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> "NLIFinetuneConfig":
        """A config from a mapping of field names; unknown names and bad values are a ValueError naming them."""
        try:
            return cls.model_validate(dict(values))
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise ValueError(f"NLI fine-tuning hyper-parameters: {problems}") from None
