"""The `radnli-zs` and `radnli` tasks as data: RadNLI protocols, parameters and metric definitions."""

from __future__ import annotations

from pathlib import Path

from msxr_bench.data.types import NLI_LABELS
from msxr_bench.tasks.spec import DatasetSpec, ProtocolSpec, TaskParams, TaskSpec
from msxr_bench.training.nli_config import NLIFinetuneConfig

RADNLI_DATASET = DatasetSpec("RadNLI", "https://physionet.org/content/radnli-report-inference/ (Miura et al., "
                                       "NAACL 2021)")
SPLIT_ALIASES = {"validate": "dev", "val": "dev", "validation": "dev"}


def locate_radnli(data_root: Path, protocol: ProtocolSpec, split: str) -> list[Path]:
    from msxr_bench.data.nli import find_nli_file

    return [find_nli_file(data_root, f"radnli-{split}")]


def locate_radnli_finetune(data_root: Path, protocol: ProtocolSpec, split: str) -> list[Path]:
    from msxr_bench.data.nli import find_nli_file

    return [find_nli_file(data_root, name) for name in ("mednli-train", "radnli-dev", "radnli-test")]


class RadnliZsParams(TaskParams):
    pass


class RadnliParams(TaskParams, NLIFinetuneConfig):
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    save_dir: Path | None = None  # keep each seed's fine-tuned model here (default: discarded)


RADNLI_ZS = TaskSpec(
    name="radnli-zs",
    description="RadNLI zero-shot text similarity: entailment cosine and contradiction gap",
    version="1.0.0",
    type="text-similarity",
    dataset=RADNLI_DATASET,
    protocols=(ProtocolSpec("radnli-1.0", "RadNLI v1.0 dev / test files", "1.0", ("test", "dev"), "test",
                            "Miura et al. 2021; BioViL paper Table 4", SPLIT_ALIASES, ranked=True),),
    main_score="contradiction_gap",
    metrics=("synonym_similarity", "contradiction_gap", "contradiction_similarity", "neutral_similarity"),
    definitions={
        "similarity": "cosine of L2-normalised text embeddings (adapter.encode_texts), premise vs hypothesis",
        "synonym_similarity": "mean cosine over entailment pairs",
        "contradiction_gap": "mean cosine over entailment pairs minus mean over contradiction pairs",
    },
    params=RadnliZsParams,
    implementation="msxr_bench.tasks.radnli.zero_shot:RadnliZeroShotTask",
    locate="msxr_bench.tasks.radnli.spec:locate_radnli",
    requires=("text",),
    row_strings={"sample_id": "id", "label": NLI_LABELS},
    text_fields=("premise", "hypothesis"),
)

RADNLI = TaskSpec(
    name="radnli",
    description="RadNLI accuracy after fine-tuning the text encoder on MedNLI (mean over seeds)",
    version="1.0.0",
    type="nli-fine-tuning",
    dataset=RADNLI_DATASET,
    protocols=(ProtocolSpec("mednli-train-radnli-dev", "fine-tune on MedNLI train, select the epoch on RadNLI dev, "
                            "score RadNLI test", "1.0", ("test",), "test", "BioViL paper Table 3", ranked=True),),
    main_score="accuracy",
    metrics=("accuracy", "accuracy_sd", "precision_macro", "recall_macro", "f1_macro", "majority_baseline_accuracy"),
    definitions={
        "accuracy": "RadNLI test accuracy, mean over seeds (each seed fine-tunes a fresh copy of the text encoder)",
        "accuracy_sd": "sample standard deviation of the test accuracy over seeds",
        "majority_baseline_accuracy": "always the most frequent RadNLI test label",
    },
    params=RadnliParams,
    implementation="msxr_bench.tasks.radnli.finetune:RadnliFinetuneTask",
    locate="msxr_bench.tasks.radnli.spec:locate_radnli_finetune",
    requires=("text_encoder",),
    row_strings={"sample_id": "id", "label": NLI_LABELS, "pred_seed*": NLI_LABELS},
)
