"""The task declarations: one `TaskSpec` literal per task (the behaviour lives in the module of `runner`)."""

from __future__ import annotations

from msxr_bench.tasks.spec import DatasetSpec, TaskSpec
from msxr_bench.training.nli_config import NLIFinetuneConfig  # a plain dataclass (no torch import)

MS_CXR = DatasetSpec(
    name="MS-CXR", versions=("0.1", "1.1.0"), default_version="0.1", splits=("all", "train", "val", "test"),
    default_split="all", reference="https://physionet.org/content/ms-cxr/ (Boecking et al., ECCV 2022)",
)
RSNA = DatasetSpec(
    name="RSNA Pneumonia Detection Challenge (stage 2 train labels)", versions=("stage-2",),
    default_version="stage-2", splits=("train", "val", "test", "all"), default_split="test",
    reference="https://www.kaggle.com/c/rsna-pneumonia-detection-challenge",
)
RADNLI = DatasetSpec(
    name="RadNLI", versions=("1.0",), default_version="1.0", splits=("dev", "test"), default_split="test",
    reference="https://physionet.org/content/radnli-report-inference/ (Miura et al., NAACL 2021)",
)
PNEUMONIA_PROMPTS = {
    "positive_prompts": ["Findings suggesting pneumonia"],
    "negative_prompts": ["No evidence of pneumonia"],
}
CI = {"ci_level": 0.95, "ci_method": "percentile bootstrap over samples"}

TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        TaskSpec(
            name="ms-cxr",
            description="MS-CXR phrase grounding: CNR, mIoU, mDice of each phrase's similarity map vs its boxes",
            version="1.0.0",
            type="phrase-grounding",
            dataset=MS_CXR,
            main_score="cnr_macro",
            metrics=("cnr_macro", "cnr_micro", "signed_cnr_macro", "miou_macro", "miou_micro", "mdice_macro",
                     "mdice_micro", "phrase_gap_macro", "phrase_gap_micro", "signed_cnr_wrong_macro"),
            needs_patch_embeddings=True,
            defaults={"iou_thresholds": [0.1, 0.2, 0.3, 0.4, 0.5], "placement": "official", **CI},
            runner="msxr_bench.tasks.grounding:run_ms_cxr",
        ),
        TaskSpec(
            name="rsna-cls",
            description="RSNA Pneumonia zero-shot classification: cos(img, pos) - cos(img, neg), AUROC",
            version="1.0.0",
            type="zero-shot-classification",
            dataset=RSNA,
            main_score="auroc",
            metrics=("auroc", "accuracy@f1max", "f1@f1max", "sensitivity@f1max", "specificity@f1max",
                     "precision@f1max", "accuracy@0", "f1@0", "sensitivity@0", "specificity@0", "precision@0"),
            defaults={**PNEUMONIA_PROMPTS, "natural_threshold": 0.0, "split_scheme": "gloria", **CI},
            runner="msxr_bench.tasks.rsna_cls:run_rsna_cls",
        ),
        TaskSpec(
            name="rsna-seg",
            description="RSNA Pneumonia zero-shot segmentation: positive-prompt map in [0,1] > 0.6 vs boxes",
            version="1.0.0",
            type="zero-shot-segmentation",
            dataset=RSNA,
            main_score="dice",
            metrics=("dice", "iou", "cnr"),
            needs_patch_embeddings=True,
            defaults={"positive_prompts": PNEUMONIA_PROMPTS["positive_prompts"], "threshold": 0.6,
                      "rescale": [0.0, 1.0], "split_scheme": "gloria", "placement": "official", **CI},
            runner="msxr_bench.tasks.rsna_seg:run_rsna_seg",
        ),
        TaskSpec(
            name="radnli-zs",
            description="RadNLI zero-shot text similarity: entailment cosine and contradiction gap",
            version="1.0.0",
            type="text-similarity",
            dataset=RADNLI,
            main_score="contradiction_gap",
            metrics=("synonym_similarity", "contradiction_gap", "contradiction_similarity", "neutral_similarity"),
            needs_images=False,
            defaults=dict(CI),
            runner="msxr_bench.tasks.nli:run_radnli_zs",
        ),
        TaskSpec(
            name="radnli",
            description="RadNLI accuracy after fine-tuning the text encoder on MedNLI (mean over seeds)",
            version="1.0.0",
            type="nli-fine-tuning",
            dataset=RADNLI,
            main_score="accuracy",
            metrics=("accuracy",),
            needs_images=False,
            defaults={"seeds": [0, 1, 2, 3, 4], **NLIFinetuneConfig().to_dict(), **CI},
            runner="msxr_bench.tasks.radnli:run_radnli",
        ),
    )
}
