"""Numbers published by others, shown on the leaderboard as "reported in paper" rows, apart from measured rows.

Every value names where it was read. `verified=True`: copied from that source. `verified=False`: recalled in the
project's design notes and not yet checked against the paper; such values are kept here so that nobody re-types
them from memory, and the leaderboard does not show them. Not yet sourced at all (no value here): the per-category
CNR and mIoU of the BioViL paper's Table 5, its RSNA Tables 6/7 and appendix Tables A.2/A.4.
"""

from __future__ import annotations

from dataclasses import dataclass

CXR_BERT_CARD = ("https://huggingface.co/microsoft/BiomedVLP-CXR-BERT-specialized — model card, 'Performance' "
                 "(the numbers of Boecking et al., ECCV 2022, arXiv 2204.09817)")
BIOVIL_T_CARD = ("https://huggingface.co/microsoft/BiomedVLP-BioViL-T/blob/21940157fbc4073e4ffab80ac64c30e76b0b916a/"
                 "README.md — 'Performance' (the numbers of Bannur et al., CVPR 2023, arXiv 2301.04558)")
RECALLED = "msxr-bench design notes (GLoRIA/ConVIRT reference, part C), marked there as recalled [R]"

BIOVIL_PAPER = "Boecking et al., ECCV 2022 (BioViL)"
BIOVIL_T_PAPER = "Bannur et al., CVPR 2023 (BioViL-T)"


@dataclass(frozen=True)
class ReportedValue:
    group: str  # the table this row belongs to on the leaderboard
    paper: str
    table: str  # where in the paper
    method: str
    text_encoder: str | None
    metric: str  # column: "cnr_macro", "miou_macro", "radnli_accuracy", "auroc", "accuracy@f1max", "f1@f1max"
    value: str  # as printed by the source (keeps its precision)
    spread: str | None  # the ± the source gives (its own definition), None when it gives none
    mimic_cxr: bool | None  # trained on MIMIC-CXR per the source (None: the source does not say)
    source: str
    verified: bool

    @property
    def number(self) -> float:
        return float(self.value)


def _v(group: str, paper: str, table: str, method: str, encoder: str | None, metric: str, value: str,
       spread: str | None, mimic: bool | None, source: str, verified: bool = True) -> ReportedValue:
    return ReportedValue(group, paper, table, method, encoder, metric, value, spread, mimic, source, verified)


T5 = "MS-CXR phrase grounding, average CNR"
T3 = "RadNLI accuracy (fine-tuned on MedNLI)"
BT = "MS-CXR phrase grounding, CNR and mIoU (BioViL-T paper's evaluation)"
RSNA = "RSNA Pneumonia zero-shot classification"

REPORTED: tuple[ReportedValue, ...] = (
    # BioViL paper, Table 5 (Avg. CNR column), as listed by the CXR-BERT model card
    _v(T5, BIOVIL_PAPER, "Table 5", "Baseline", "ClinicalBERT", "cnr_macro", "0.769", None, None, CXR_BERT_CARD),
    _v(T5, BIOVIL_PAPER, "Table 5", "Baseline", "PubMedBERT", "cnr_macro", "0.773", None, None, CXR_BERT_CARD),
    _v(T5, BIOVIL_PAPER, "Table 5", "ConVIRT", "ClinicalBERT", "cnr_macro", "0.818", None, None, CXR_BERT_CARD),
    _v(T5, BIOVIL_PAPER, "Table 5", "GLoRIA", "ClinicalBERT", "cnr_macro", "0.930", None, None, CXR_BERT_CARD),
    _v(T5, BIOVIL_PAPER, "Table 5", "BioViL", "CXR-BERT", "cnr_macro", "1.027", None, True, CXR_BERT_CARD),
    _v(T5, BIOVIL_PAPER, "Table 5", "BioViL-L", "CXR-BERT", "cnr_macro", "1.142", None, True, CXR_BERT_CARD),
    # BioViL paper, Table 3 (RadNLI), as listed by the CXR-BERT model card
    _v(T3, BIOVIL_PAPER, "Table 3", "RadNLI baseline", None, "radnli_accuracy", "53.30", None, None, CXR_BERT_CARD),
    _v(T3, BIOVIL_PAPER, "Table 3", "ClinicalBERT", "ClinicalBERT", "radnli_accuracy", "47.67", None, None,
       CXR_BERT_CARD),
    _v(T3, BIOVIL_PAPER, "Table 3", "PubMedBERT", "PubMedBERT", "radnli_accuracy", "57.71", None, None, CXR_BERT_CARD),
    _v(T3, BIOVIL_PAPER, "Table 3", "CXR-BERT (after phase III)", "CXR-BERT", "radnli_accuracy", "60.46", None, True,
       CXR_BERT_CARD),
    _v(T3, BIOVIL_PAPER, "Table 3", "CXR-BERT (phase III + joint training)", "CXR-BERT", "radnli_accuracy", "65.21",
       None, True, CXR_BERT_CARD),
    # BioViL-T paper (its own MS-CXR evaluation, with error bars), as listed by the BioViL-T model card
    _v(BT, BIOVIL_T_PAPER, "MS-CXR phrase grounding", "BioViL", "CXR-BERT", "cnr_macro", "1.07", "0.04", True,
       BIOVIL_T_CARD),
    _v(BT, BIOVIL_T_PAPER, "MS-CXR phrase grounding", "BioViL-L", "CXR-BERT", "cnr_macro", "1.21", "0.05", True,
       BIOVIL_T_CARD),
    _v(BT, BIOVIL_T_PAPER, "MS-CXR phrase grounding", "BioViL-T", "CXR-BERT", "cnr_macro", "1.33", "0.04", True,
       BIOVIL_T_CARD),
    _v(BT, BIOVIL_T_PAPER, "MS-CXR phrase grounding", "BioViL", "CXR-BERT", "miou_macro", "0.229", "0.005", True,
       BIOVIL_T_CARD),
    _v(BT, BIOVIL_T_PAPER, "MS-CXR phrase grounding", "BioViL-L", "CXR-BERT", "miou_macro", "0.202", "0.010", True,
       BIOVIL_T_CARD),
    _v(BT, BIOVIL_T_PAPER, "MS-CXR phrase grounding", "BioViL-T", "CXR-BERT", "miou_macro", "0.240", "0.005", True,
       BIOVIL_T_CARD),
    # recalled, unchecked: kept out of the tables until read from the paper
    _v(T5, BIOVIL_PAPER, "Table 5 (mIoU)", "GLoRIA", "ClinicalBERT", "miou_macro", "0.246", None, None, RECALLED,
       verified=False),
    _v(T5, BIOVIL_PAPER, "Table 5 (mIoU)", "ConVIRT", "ClinicalBERT", "miou_macro", "0.24", None, None, RECALLED,
       verified=False),
    _v(RSNA, BIOVIL_PAPER, "Table 6", "BioViL", "CXR-BERT", "accuracy@f1max", "0.73", None, True, RECALLED,
       verified=False),
    _v(RSNA, BIOVIL_PAPER, "Table 6", "BioViL", "CXR-BERT", "f1@f1max", "0.67", None, True, RECALLED, verified=False),
    _v(RSNA, BIOVIL_PAPER, "Table 6", "BioViL", "CXR-BERT", "auroc", "0.83", None, True, RECALLED, verified=False),
    _v(RSNA, BIOVIL_PAPER, "Table 6", "GLoRIA", "ClinicalBERT", "accuracy@f1max", "0.70", None, None, RECALLED,
       verified=False),
    _v(RSNA, BIOVIL_PAPER, "Table 6", "GLoRIA", "ClinicalBERT", "f1@f1max", "0.58", None, None, RECALLED,
       verified=False),
)

METRIC_TITLES = {
    "cnr_macro": "CNR (avg.)", "miou_macro": "mIoU", "radnli_accuracy": "Accuracy (%)", "auroc": "AUROC",
    "accuracy@f1max": "Accuracy", "f1@f1max": "F1",
}


def verified_values() -> list[ReportedValue]:
    return [v for v in REPORTED if v.verified]


def unverified_values() -> list[ReportedValue]:
    return [v for v in REPORTED if not v.verified]
