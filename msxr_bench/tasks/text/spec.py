"""The `text-intrinsics` task as data (BioViL paper Table 3, columns 2-3): masked-token accuracy of a text model's
MLM head on MIMIC-CXR reports, tokens per FINDINGS section against words, and the vocabulary size."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import field_validator

from msxr_bench.tasks.spec import DatasetSpec, ProtocolSpec, TaskParams, TaskSpec

MIMIC_REPORTS = DatasetSpec("MIMIC-CXR reports (free-text radiology reports)",
                            "https://physionet.org/content/mimic-cxr/ (Johnson et al. 2019)")


def locate_reports(data_root: Path, protocol: ProtocolSpec, split: str) -> list[Path]:
    from msxr_bench.data.mimic import find_mimic_roots

    jpg, reports = find_mimic_roots(data_root)
    return [jpg, reports / "files"]


class TextIntrinsicsParams(TaskParams):
    mask_probability: float = 0.15
    masking: Literal["whole_word", "token"] = "whole_word"
    mask_seed: int = 0
    # the text that is masked, joined in this order (a report with none of them: its official conclusion)
    sections: tuple[str, ...] = ("findings", "impression")
    batch_size: int = 32

    @field_validator("mask_probability")
    @classmethod
    def _probability(cls, value: float) -> float:
        if not 0 < value < 1:
            raise ValueError("mask_probability must lie in (0, 1)")
        return value


TEXT_INTRINSICS = TaskSpec(
    name="text-intrinsics",
    description="Masked-token accuracy on MIMIC-CXR reports (15% masking, seeded), tokens per Findings section vs "
                "words, vocabulary size",
    version="1.0.0",
    type="text-intrinsics",
    dataset=MIMIC_REPORTS,
    protocols=(ProtocolSpec("mimic-cxr-2.0.0", "MIMIC-CXR reports of the studies of an official split (one report "
                            "per study)", "2.0.0", ("validate", "test", "train"), "validate",
                            "BioViL paper Table 3 (\"MIMIC-CXR val, 15% masking\")",
                            {"val": "validate", "valid": "validate", "validation": "validate"}),),
    main_score="masked_token_accuracy",
    metrics=("masked_token_accuracy", "most_frequent_token_accuracy", "avg_tokens_findings", "avg_words_findings",
             "token_increase_percent", "vocabulary_size"),
    definitions={
        "masked_token_accuracy": "top-1 accuracy of the MLM head over every masked position of every report "
                                 "(sum correct / sum masked; the CI resamples reports)",
        "masking": "words = BERT basic pre-tokenisation of the report's sections; each word chosen with the mask "
                   "probability (at least one per report) from a generator of (mask_seed, report id); whole_word: "
                   "all word pieces of a chosen word become [MASK] (token: each piece chosen alone); no 80/10/10",
        "most_frequent_token_accuracy": "the same positions predicted as the most frequent masked token of the "
                                        "evaluated reports (a baseline that knows the answers' distribution)",
        "avg_tokens_findings": "mean over reports with a FINDINGS section of its word pieces (no special tokens)",
        "avg_words_findings": "mean of its words (BERT basic pre-tokenisation: punctuation counts as a word)",
        "token_increase_percent": "100 * (avg_tokens_findings / avg_words_findings - 1), the paper's '(+x%)'",
        "vocabulary_size": "len(tokenizer): every token the tokenizer can produce, special tokens included",
    },
    params=TextIntrinsicsParams,
    implementation="msxr_bench.tasks.text.intrinsics:TextIntrinsicsTask",
    locate="msxr_bench.tasks.text.spec:locate_reports",
    requires=("mlm",),
)
