"""The `rsna-cls` and `rsna-seg` tasks as data: RSNA split protocols (rebuilt GLoRIA / MGCA splits), prompts,
thresholds and metric definitions."""

from __future__ import annotations

from pathlib import Path

from pydantic import field_validator

from msxr_bench.data.types import DatasetFormatError
from msxr_bench.tasks.spec import DatasetSpec, ProtocolSpec, TaskParams, TaskSpec

RSNA_DATASET = DatasetSpec("RSNA Pneumonia Detection Challenge (stage 2 train labels)",
                           "https://www.kaggle.com/c/rsna-pneumonia-detection-challenge")
RSNA_VERSION = "stage-2"
SPLIT_ALIASES = {"valid": "val", "validate": "val", "validation": "val"}
RSNA_PROTOCOLS = (
    ProtocolSpec("gloria", "GLoRIA's 70/15/15 split rebuilt from every patientId of the labels file "
                 "(18,678 / 4,003 / 4,003); all = every image, no split", RSNA_VERSION, ("test", "val", "train", "all"),
                 "test", "GLoRIA (Huang et al. 2021), BioViL's RSNA setting", SPLIT_ALIASES, ranked=True),
    ProtocolSpec("mgca", "MGCA's split rebuilt from the labels file (16,010 / 5,337 / 5,337); all = every image",
                 RSNA_VERSION, ("test", "val", "train", "all"), "test", "MGCA (Wang et al. 2022)", SPLIT_ALIASES),
)
PAPER_POSITIVE = ("Findings suggesting pneumonia",)
PAPER_NEGATIVE = ("No evidence of pneumonia",)
AUROC_DEFINITION = "exact Mann-Whitney AUROC of the score, ties count half; NaN if one class is absent"


def locate_rsna(data_root: Path, protocol: ProtocolSpec, split: str) -> list[Path]:
    """The Kaggle labels file and the training-image folder."""
    from msxr_bench.data.rsna import find_rsna_files

    files = find_rsna_files(data_root)
    if not files.images_dir.is_dir():
        raise DatasetFormatError(f"{files.images_dir}: the RSNA image folder (stage_2_train_images/) is missing")
    return [files.labels, files.images_dir] + ([files.class_info] if files.class_info else [])


class RsnaClsParams(TaskParams):
    positive_prompts: tuple[str, ...] = PAPER_POSITIVE
    negative_prompts: tuple[str, ...] = PAPER_NEGATIVE
    natural_threshold: float = 0.0
    # also score these prompt pairs (Table A.1): "paper", or a JSON file of pairs (tasks/rsna/sweep.py)
    prompt_sweep: str | None = None

    @field_validator("prompt_sweep")
    @classmethod
    def _sweep(cls, value: str | None) -> str | None:
        if value is not None:
            from msxr_bench.tasks.rsna.sweep import load_sweep

            load_sweep(value)  # a missing or malformed file fails preflight, naming it
        return value


class RsnaSegParams(TaskParams):
    positive_prompts: tuple[str, ...] = PAPER_POSITIVE
    threshold: float = 0.6


RSNA_CLS = TaskSpec(
    name="rsna-cls",
    description="RSNA Pneumonia zero-shot classification: cos(img, pos) - cos(img, neg), AUROC",
    version="1.0.0",
    type="zero-shot-classification",
    dataset=RSNA_DATASET,
    protocols=RSNA_PROTOCOLS,
    main_score="auroc",
    metrics=("auroc", "accuracy@f1max", "f1@f1max", "sensitivity@f1max", "specificity@f1max", "precision@f1max",
             "accuracy@0", "f1@0", "sensitivity@0", "specificity@0", "precision@0"),
    definitions={
        "score": "cos(image, positive prompt embedding) - cos(image, negative prompt embedding), global embeddings",
        "auroc": AUROC_DEFINITION,
        "@f1max": "at the threshold that maximises F1 on the evaluated split itself: optimistic (the paper's choice)",
        "@0": "at the natural threshold 0 (positive iff the positive prompt is closer)",
        "[pair]": "with prompt_sweep: the same score with the prompts of that pair (auroc[pair], f1@f1max[pair])",
        "delta_auroc[pair]": "AUROC of the pair minus AUROC of its reference pair on the same images; the CI is the "
                             "paired bootstrap of metrics.bootstrap.paired_bootstrap (the paper prints |delta|)",
        "abs_delta_auroc[pair]": "|delta_auroc[pair]|, the paper's |dAUC| (its CI: the same paired resamples, "
                                 "absolute value taken in each)",
    },
    params=RsnaClsParams,
    implementation="msxr_bench.tasks.rsna.classification:RsnaClsTask",
    locate="msxr_bench.tasks.rsna.spec:locate_rsna",
    requires=("global", "text"),
)

RSNA_SEG = TaskSpec(
    name="rsna-seg",
    description="RSNA Pneumonia zero-shot segmentation: positive-prompt map in [0,1] > 0.6 vs boxes",
    version="1.1.0",
    type="zero-shot-segmentation",
    dataset=RSNA_DATASET,
    protocols=RSNA_PROTOCOLS,
    main_score="dice",
    metrics=("dice", "iou", "signed_cnr", "cnr"),
    definitions={
        "dice": "Dice of (positive-prompt map min-max rescaled to [0, 1] > threshold) vs the union of the boxes",
        "iou": "IoU of the same mask vs the union of the boxes",
        "cnr": "|mean_in - mean_out| / sqrt(var_in + var_out): rewards maps that point away from the boxes too",
        "signed_cnr": "the CNR without the absolute value: negative when the map is highest outside the boxes",
    },
    params=RsnaSegParams,
    implementation="msxr_bench.tasks.rsna.segmentation:RsnaSegTask",
    locate="msxr_bench.tasks.rsna.spec:locate_rsna",
    requires=("patches", "text"),
    compatible_versions=("1.0.0",),  # 1.1.0 added signed_cnr; rows of 1.0.0 runs lack it and aggregate as before
)
