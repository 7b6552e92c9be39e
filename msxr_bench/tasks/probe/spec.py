"""The `rsna-cls-probe` and `rsna-seg-probe` tasks as data (BioViL paper Tables 6/A.2 and 7): protocols (train on
the rebuilt split's train part, select on its val part, report on test), the probe kinds, label fractions, seeds,
the optimiser's grid, and what every reported quantity means. The fitting lives in `fit.py`, the tasks beside it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import field_validator, model_validator

from msxr_bench.tasks.rsna.spec import PAPER_NEGATIVE, PAPER_POSITIVE, RSNA_DATASET, RSNA_VERSION, locate_rsna
from msxr_bench.tasks.spec import ProtocolSpec, TaskParams, TaskSpec

PROBE_PROTOCOLS = (
    ProtocolSpec("gloria", "GLoRIA's 70/15/15 split rebuilt from every patientId of the labels file: the probe "
                 "trains on (a label fraction of) train, selects on val, reports on test", RSNA_VERSION, ("test",),
                 "test", "GLoRIA (Huang et al. 2021); BioViL's linear-probing setting (\"70% train / 30% eval\")"),
    ProtocolSpec("mgca", "MGCA's split rebuilt from the labels file: train / val / test as for gloria", RSNA_VERSION,
                 ("test",), "test", "MGCA (Wang et al. 2022)"),
)
ProbeKind = Literal["prompt", "classic"]
PROBE_KINDS = {
    "prompt": "the paper's probe: a linear map beta [D x C] + bias on the projected, L2-normalised embedding, "
              "initialised with the zero-shot prompt embeddings (beta = [t_negative, t_positive], bias 0), softmax "
              "over the similarities",
    "classic": "a linear map on the image encoder's pre-projection features (adapter.encode_image_features), "
               "standardised with the training subset's mean and sd, randomly initialised (seeded), softmax",
}
CLS_FRACTIONS = (0.01, 0.1, 1.0)
SEG_FRACTIONS = (0.05, 1.0)


def fraction_label(fraction: float) -> str:
    """0.01 -> "1%", 0.05 -> "5%", 1.0 -> "100%" (the suffix of per-fraction metric names)."""
    return f"{fraction * 100:g}%"


class ProbeParams(TaskParams):
    """What both probes share: kind, fractions, seeds, prompts, the optimiser's grid and class weighting."""

    probe: ProbeKind = "prompt"
    fractions: tuple[float, ...] = CLS_FRACTIONS
    seeds: tuple[int, ...] = (0, 1, 2)
    positive_prompts: tuple[str, ...] = PAPER_POSITIVE
    negative_prompts: tuple[str, ...] = PAPER_NEGATIVE
    lrs: tuple[float, ...] = (1e-3, 1e-2, 1e-1)
    weight_decays: tuple[float, ...] = (0.0, 1e-4, 1e-2)
    epochs: int = 100
    class_weighting: Literal["none", "balanced"] = "none"

    @field_validator("fractions")
    @classmethod
    def _fractions(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if not value or any(not 0 < f <= 1 for f in value) or len(set(value)) != len(value):
            raise ValueError("fractions must be distinct numbers in (0, 1]")
        if 1.0 not in value:
            raise ValueError("fractions must include 1.0 (the main score is the probe on all training labels)")
        return tuple(sorted(value))

    @field_validator("seeds", "lrs", "weight_decays")
    @classmethod
    def _non_empty(cls, value: tuple) -> tuple:
        if not value or len(set(value)) != len(value):
            raise ValueError("needs at least one value, without repeats")
        return value

    @field_validator("epochs")
    @classmethod
    def _epochs(cls, value: int) -> int:
        if value < 1:
            raise ValueError("epochs must be >= 1")
        return value


class RsnaClsProbeParams(ProbeParams):
    pass


class RsnaSegProbeParams(ProbeParams):
    fractions: tuple[float, ...] = SEG_FRACTIONS
    seeds: tuple[int, ...] = (0,)
    lrs: tuple[float, ...] = (1e-2, 1e-1)
    weight_decays: tuple[float, ...] = (0.0,)
    epochs: int = 10
    batch_images: int = 64  # images per optimisation step (grid features are streamed from disk)
    images: Literal["positives", "with_negatives"] = "positives"
    map_scale: Literal["probability", "minmax"] = "minmax"
    threshold: float = 0.6

    @model_validator(mode="after")
    def _batch(self) -> "RsnaSegProbeParams":
        if self.batch_images < 1:
            raise ValueError("batch_images must be >= 1")
        return self


CLS_DEFINITIONS = {
    "probe": "see scoring.probe_definition: prompt (the paper's) or classic",
    "auroc[f]": "test AUROC of the probe trained on fraction f of the training labels, mean over seeds (the CI "
                "resamples test images, every seed's scores together)",
    "auroc_sd[f]": "sample sd over seeds of the test AUROC",
    "@f1max": "at the threshold that maximises F1 on the test set itself: optimistic (the paper's choice)",
    "@val": "at the threshold that maximises F1 on the validation set (chosen before looking at test)",
    "subset": "stratified: round(f * n) images of each class (at least one), drawn per (fraction, seed)",
    "select on val": "per (fraction, seed), the (lr, weight decay) pair with the highest validation AUROC",
}
SEG_DEFINITIONS = {
    "map": "per cell of the patch grid, the positive-class probability of the probe (softmax over the two classes), "
           "smoothed as the adapter's geometry says, min-max rescaled to [0, 1] over the pixels it covers as rsna-seg "
           "does (map_scale=minmax, the default; map_scale=probability thresholds the probability itself), "
           "nearest-upsampled",
    "dice[f]": "Dice of (map > threshold) vs the union of the boxes, mean over test positives, then over seeds",
    "iou[f]": "IoU of the same mask, mean over test positives and seeds",
    "cnr[f]": "|mean_in - mean_out| / sqrt(var_in + var_out) on the map (absolute: flatters maps pointing away)",
    "signed_cnr[f]": "the CNR without the absolute value",
    "cell target": "fraction of the cell's pixels inside the box union (soft label; cells outside the image are "
                   "left out)",
    "select on val": "per (fraction, seed), the (lr, weight decay) pair with the highest mean validation Dice",
}

RSNA_CLS_PROBE = TaskSpec(
    name="rsna-cls-probe",
    description="RSNA Pneumonia linear probe (1/10/100% of labels): prompt-initialised map on the projected "
                "embedding, or the classic probe; AUROC",
    version="1.0.0",
    type="linear-probe-classification",
    dataset=RSNA_DATASET,
    protocols=PROBE_PROTOCOLS,
    main_score="auroc[100%]",
    metrics=("auroc[100%]", "auroc_sd[100%]", "f1@f1max[100%]", "f1@val[100%]"),
    definitions=CLS_DEFINITIONS,
    params=RsnaClsProbeParams,
    implementation="msxr_bench.tasks.probe.classification:RsnaClsProbeTask",
    locate="msxr_bench.tasks.probe.spec:locate_rsna",
    row_key=("sample_id", "fraction", "seed"),
)

RSNA_SEG_PROBE = TaskSpec(
    name="rsna-seg-probe",
    description="RSNA Pneumonia segmentation probe (5/100% of box masks): prompt-initialised 1x1 conv on the "
                "projected patch grid; Dice at 0.6",
    version="1.0.0",
    type="linear-probe-segmentation",
    dataset=RSNA_DATASET,
    protocols=PROBE_PROTOCOLS,
    main_score="dice[100%]",
    metrics=("dice[100%]", "iou[100%]", "signed_cnr[100%]", "cnr[100%]"),
    definitions=SEG_DEFINITIONS,
    params=RsnaSegProbeParams,
    implementation="msxr_bench.tasks.probe.segmentation:RsnaSegProbeTask",
    locate="msxr_bench.tasks.probe.spec:locate_rsna",
    row_key=("sample_id", "fraction", "seed"),
)

__all__ = ["PROBE_KINDS", "RSNA_CLS_PROBE", "RSNA_SEG_PROBE", "RsnaClsProbeParams", "RsnaSegProbeParams",
           "fraction_label", "locate_rsna"]
