"""The `ms-cxr-t-cls` and `ms-cxr-t-sim` tasks as data: MS-CXR-T protocols (no official split: all rows by default;
a split is a named, hashed, recorded protocol), prompts, parameters and metric definitions."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from msxr_bench.data.mscxr_t import (
    DATASET_VERSION, FINDINGS, IMAGE_FILE, PROGRESSIONS, SENTENCE_CATEGORIES, SENTENCE_FILE,
)
from msxr_bench.data.types import DatasetFormatError
from msxr_bench.tasks.spec import DatasetSpec, ProtocolSpec, TaskParams, TaskSpec

MS_CXR_T_DATASET = DatasetSpec("MS-CXR-T", "https://physionet.org/content/ms-cxr-t/ (Bannur et al., CVPR 2023)")
FINDING_WORDS = {"consolidation": "consolidation", "edema": "pulmonary edema", "pleural_effusion": "pleural effusion",
                 "pneumonia": "pneumonia", "pneumothorax": "pneumothorax"}
# The toolkit's prompts: the paper's are not released (hi-ml issue #934)
DEFAULT_PROMPTS: dict[str, dict[str, str]] = {
    f: {p: f"{p.capitalize()} {w}" for p in PROGRESSIONS} for f, w in FINDING_WORDS.items()}
SUBJECT_SPLIT = {"seed": 0, "fractions": {"train": 0.7, "val": 0.1, "test": 0.2}}
MIMIC_ALIASES = {"val": "validate", "valid": "validate", "validation": "validate"}
CLS_PROTOCOLS = (
    ProtocolSpec("all-rows", "every labelled (image pair, finding) of MS-CXR-T 1.0.0 (1,326 labels on PhysioNet); "
                 "there is no official split", DATASET_VERSION, ("all",), "all",
                 "BioViL-T (Bannur et al. 2023), zero-shot and fine-tuned", ranked=True),
    ProtocolSpec("subject-70-10-20", "this toolkit's seeded (seed 0) subject-level 70/10/20 train/val/test split of "
                 "the subjects of the file (ids hashed and recorded)", DATASET_VERSION, ("test", "val", "train", "all"),
                 "test", "others used a random 70/10/20 by subject; theirs is not published, this one is re-made",
                 {"valid": "val", "validate": "val", "validation": "val"}),
    ProtocolSpec("mimic-split", "rows by the MIMIC-CXR split of their current study (mimic-cxr-2.0.0-split.csv): some "
                 "rows lie in MIMIC train, CONTAMINATED for models trained on MIMIC-CXR (flagged in the results)",
                 DATASET_VERSION, ("test", "validate", "train"), "test", "the MIMIC-CXR official split", MIMIC_ALIASES),
)


def locate_classification(data_root: Path, protocol: ProtocolSpec, split: str) -> list[Path]:
    """The classification CSV, the MIMIC-CXR-JPG image tree (and the MIMIC split table for `mimic-split`)."""
    from msxr_bench.data.mscxr_t import find_mscxrt_file
    from msxr_bench.data.tables import files_parent, first_existing

    base = files_parent(data_root, "mimic-cxr-jpg")
    if not (base / "files").is_dir():
        raise DatasetFormatError(f"no MIMIC-CXR-JPG image tree (files/pNN/...) under {data_root}: MS-CXR-T's current "
                                 "and prior images come from MIMIC-CXR-JPG")
    found = [find_mscxrt_file(data_root, IMAGE_FILE), base / "files"]
    if protocol.name == "mimic-split":
        table = first_existing([base / "mimic-cxr-2.0.0-split.csv.gz", base / "mimic-cxr-2.0.0-split.csv"])
        if table is None:
            raise DatasetFormatError(f"protocol mimic-split needs mimic-cxr-2.0.0-split.csv(.gz) in {base}")
        found.append(table)
    return found


def locate_similarity(data_root: Path, protocol: ProtocolSpec, split: str) -> list[Path]:
    from msxr_bench.data.mscxr_t import find_mscxrt_file

    return [find_mscxrt_file(data_root, SENTENCE_FILE)]


class MsCxrTClsParams(TaskParams):
    # {finding: {improving|stable|worsening: prompt}}; a partial table overrides those entries of the default one
    prompts: dict[str, dict[str, str]] = Field(default_factory=lambda: {f: dict(p) for f, p in DEFAULT_PROMPTS.items()})
    label_quality: tuple[str, ...] | None = None  # keep labels of these label_quality values only (None: all)
    mode: Literal["zero-shot", "linear-probe"] = "zero-shot"
    # auto: current + prior when the adapter has image_pairs, else the current image; current-only: always the latter
    image_input: Literal["auto", "current-only"] = "auto"
    probe_folds: int = Field(5, ge=2)  # linear probe: subject-grouped cross-fitting folds
    probe_seed: int = 0
    probe_l2: float = Field(1e-2, gt=0)  # weight of 0.5 * ||W||^2 beside the mean cross-entropy
    probe_max_iter: int = Field(200, ge=1)

    @field_validator("prompts")
    @classmethod
    def _complete_prompts(cls, value: Any) -> dict[str, dict[str, str]]:
        unknown = sorted(set(value) - set(FINDINGS))
        if unknown:
            raise ValueError(f"unknown finding(s) {unknown}; findings: {', '.join(FINDINGS)}")
        table = {f: dict(p) for f, p in DEFAULT_PROMPTS.items()}
        for finding, by_class in value.items():
            bad = sorted(set(by_class) - set(PROGRESSIONS))
            if bad:
                raise ValueError(f"{finding}: unknown class(es) {bad}; classes: {', '.join(PROGRESSIONS)}")
            for progression, prompt in by_class.items():
                if not str(prompt).strip():
                    raise ValueError(f"{finding}.{progression}: empty prompt")
                table[finding][progression] = str(prompt)
        return table


class MsCxrTSimParams(TaskParams):
    threshold_folds: int = Field(5, ge=2)  # the accuracy threshold of a pair is chosen on the other folds
    fold_seed: int = 0


PER_FINDING = tuple(f"{m}_{f}" for f in FINDINGS for m in ("macro_accuracy", "accuracy"))
MS_CXR_T_CLS = TaskSpec(
    name="ms-cxr-t-cls",
    description="MS-CXR-T temporal image classification: improving / stable / worsening of a finding between a prior "
                "and a current image (zero-shot by prompt similarity, or a linear probe)",
    version="1.0.0",
    type="temporal-classification",
    dataset=MS_CXR_T_DATASET,
    protocols=CLS_PROTOCOLS,
    main_score="macro_accuracy",
    metrics=("macro_accuracy", "accuracy", "accuracy_micro") + PER_FINDING,
    definitions={
        "accuracy_<finding>": "fraction of that finding's labels predicted right",
        "macro_accuracy_<finding>": "mean over the classes (improving, stable, worsening) present among that finding's "
                                    "labels of the fraction of each class predicted right (balanced accuracy)",
        "macro_accuracy": "mean over the findings present of macro_accuracy_<finding> (the paper's macro accuracy)",
        "accuracy": "mean over the findings present of accuracy_<finding>",
        "accuracy_micro": "fraction of all labels predicted right",
        "zero-shot": "class = argmax over the three classes of cos(image embedding, prompt embedding of the finding)",
        "linear-probe": "multinomial logistic regression per finding on the frozen image embedding, cross-fitted over "
                        "subject-grouped folds: each label is predicted by a probe that never saw its subject",
    },
    params=MsCxrTClsParams,
    implementation="msxr_bench.tasks.temporal.classification:MsCxrTClsTask",
    locate="msxr_bench.tasks.temporal.spec:locate_classification",
    requires=("global",),
    row_strings={"sample_id": "id", "dicom_id": "id", "previous_dicom_id": "id", "subject_id": "id",
                 "finding": FINDINGS, "label": PROGRESSIONS, "predicted": PROGRESSIONS},
    chart_metrics=("macro_accuracy", "accuracy"),
)

MS_CXR_T_SIM = TaskSpec(
    name="ms-cxr-t-sim",
    description="MS-CXR-T temporal sentence similarity: cosine of sentence pairs, paraphrase vs contradiction",
    version="1.0.0",
    type="text-similarity",
    dataset=MS_CXR_T_DATASET,
    protocols=(ProtocolSpec("all-pairs", "every sentence pair of MS-CXR-T 1.0.0 (361 on PhysioNet)", DATASET_VERSION,
                            ("all",), "all", "BioViL-T (Bannur et al. 2023)", ranked=True),),
    main_score="roc_auc",
    metrics=("roc_auc", "accuracy", "paraphrase_similarity", "contradiction_similarity", "similarity_gap"),
    definitions={
        "similarity": "cosine of L2-normalised text embeddings (adapter.encode_texts), sentence_1 vs sentence_2",
        "roc_auc": "exact Mann-Whitney AUROC of the cosine for paraphrase (positive) vs contradiction, ties half",
        "accuracy": "paraphrase iff cosine >= threshold, the threshold of a pair chosen on the other folds of a seeded "
                    "category-stratified k-fold (never on the pairs it scores)",
        "similarity_gap": "mean cosine of paraphrases minus mean cosine of contradictions",
    },
    params=MsCxrTSimParams,
    implementation="msxr_bench.tasks.temporal.similarity:MsCxrTSimTask",
    locate="msxr_bench.tasks.temporal.spec:locate_similarity",
    requires=("text",),
    row_strings={"sample_id": "id", "label": SENTENCE_CATEGORIES, "predicted": SENTENCE_CATEGORIES},
    text_fields=("sentence_1", "sentence_2"),
)
