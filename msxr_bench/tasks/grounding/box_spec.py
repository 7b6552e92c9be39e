"""The box-grounding tasks as data: `ms-cxr-boxes` (every MS-CXR protocol) and `padchest-gr` (PadChest-GR, phrases
with 0..n boxes), one set of parameters and metric definitions. Torch-free.

Box metrics are a task of their own rather than an output mode of `ms-cxr`, so that each task keeps one main
score and one `metrics(rows)`: ms-cxr's main score is the macro CNR, which box-only models cannot have; here
every model gets box metrics (heatmap models through a named conversion) and CNR where a map exists.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import field_validator

from msxr_bench.data.types import MS_CXR_CATEGORIES
from msxr_bench.tasks.grounding.spec import MS_CXR_DATASET, MS_CXR_PROTOCOLS
from msxr_bench.tasks.spec import DatasetSpec, ProtocolSpec, TaskParams, TaskSpec

MAP_BOX_RULES = ("top-fraction", "minmax-components")  # geometry/map_boxes.py
DEFAULT_MAP_BOX_RULE = "top-fraction@0.1"
ACC_NAMES = ("acc@0.3", "acc@0.5", "acc@0.7")
SAMPLE_MEASURES = ("best_box_iou", "union_iou") + ACC_NAMES
MAP_COLUMNS = ("cnr", "signed_cnr")
BOX_METRICS = tuple(f"{m}_{kind}" for m in SAMPLE_MEASURES + MAP_COLUMNS for kind in ("macro", "micro")) + (
    "no_box_rate", "groundability_precision", "groundability_recall", "pooled_iou", "pooled_miou", "map", "ap50",
    "ap75")
BOX_DEFINITIONS = {
    "best_box_iou": "IoU of the highest-scoring predicted box with the box enclosing all true boxes (MedRPG/TransVG: "
                    "one box per phrase, the union box when several); no predicted box = 0",
    "acc@t": "share of groundable phrases with best-box IoU >= t (MedRPG's Acc@t)",
    "union_iou": "IoU of the union of all predicted boxes with the union of the true boxes (exact areas)",
    "pooled_iou": "ChEX: sum over phrases of |pred ∩ true| / sum of |pred ∪ true|, box masks on a 1024 x 1024 grid "
                  "in normalised image coordinates, all predicted boxes; pooled_miou: its mean over object-score "
                  "thresholds 0.1-0.5 (boxes with score > t)",
    "map": "ChEX: mean over IoU 0.4, 0.45, ..., 0.75 of AP (mean-average-precision package rules, soft matching, "
           "101 recall points), each phrase an image of its own, its 10 highest-scoring boxes ranked; ap50, ap75: "
           "AP at IoU 0.5 and 0.75",
    "groundability": "precision: share of phrases given boxes that have true boxes; recall: share of phrases with "
                     "true boxes that are given boxes (an empty box list = not groundable)",
    "no_box_rate": "share of groundable phrases without any predicted box (each scored IoU 0)",
    "cnr": "CNR of the model's similarity map vs the true boxes (as ms-cxr); not applicable to box-only models",
    "localisation": "every localisation metric is over the groundable phrases (at least one true box)",
    "macro": "mean over categories of the per-category means; micro: mean over groundable phrases",
}


class BoxTaskParams(TaskParams):
    # where the boxes come from: the model's own (`boxes` capability) or its heatmap by the named rule
    box_source: Literal["auto", "model", "heatmap"] = "auto"
    # heatmap -> boxes, a named rule KIND@VALUE (geometry/map_boxes.py): top-fraction@q (top q of the raw map's
    # pixels on the model input) or minmax-components@t (the task's map min-max rescaled, >= t)
    map_box_rule: str = DEFAULT_MAP_BOX_RULE

    @field_validator("map_box_rule")
    @classmethod
    def _known_rule(cls, value: str) -> str:
        kind, at, number = value.partition("@")
        try:
            ok = at and kind in MAP_BOX_RULES and 0.0 < float(number) <= 1.0
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(f"{value!r}: expected KIND@VALUE with KIND one of {', '.join(MAP_BOX_RULES)} and "
                             "0 < VALUE <= 1 (e.g. top-fraction@0.1)")
        return value


MS_CXR_BOXES = TaskSpec(
    name="ms-cxr-boxes",
    description="MS-CXR phrase grounding as boxes: Acc@0.5, best-box and union IoU, ChEX pooled IoU and mAP "
                "(box models, and heatmap models through a named conversion)",
    version="1.0.0",
    type="phrase-grounding-boxes",
    dataset=MS_CXR_DATASET,
    protocols=MS_CXR_PROTOCOLS,
    main_score="acc@0.5_micro",
    metrics=BOX_METRICS,
    definitions=BOX_DEFINITIONS,
    params=BoxTaskParams,
    implementation="msxr_bench.tasks.grounding.box_task:MsCxrBoxTask",
    locate="msxr_bench.tasks.grounding.spec:locate_ms_cxr",
    requires_any=(("boxes",), ("patches", "text")),
    row_strings={"sample_id": "id", "dicom_id": "id", "category": MS_CXR_CATEGORIES},
    chart_metrics=("acc@0.5", "best_box_iou", "union_iou"),
)


PADCHEST_GR_DATASET = DatasetSpec("PadChest-GR", "https://bimcv.cipf.es/bimcv-projects/padchest-gr/ (Castro et al. "
                                  "2024, arXiv 2411.05085)")
PADCHEST_SPLIT_ALIASES = {"val": "validation", "valid": "validation", "validate": "validation"}
PADCHEST_GR_PROTOCOLS = (
    ProtocolSpec("official", "PadChest-GR's grounded reports, split by its master table (patient level: train / "
                 "validation / test); every finding sentence a phrase, with or without boxes", "20240819",
                 ("test", "validation", "train", "all"), "test", "PadChest-GR release (BIMCV)",
                 PADCHEST_SPLIT_ALIASES),
)
PADCHEST_CATEGORIES = MS_CXR_CATEGORIES + ("other", "normal")  # data/padchest_gr.py: labels -> category


def locate_padchest_gr(data_root: Path, protocol: ProtocolSpec, split: str) -> list[Path]:
    from msxr_bench.data.padchest_gr import find_padchest_gr

    files = find_padchest_gr(data_root)
    return [files.reports, files.master, files.images]


PADCHEST_GR = TaskSpec(
    name="padchest-gr",
    description="PadChest-GR generalised grounding: phrases with 0..n boxes; groundability precision/recall and box "
                "localisation on the groundable ones (same metrics as ms-cxr-boxes)",
    version="1.0.0",
    type="phrase-grounding-boxes",
    dataset=PADCHEST_GR_DATASET,
    protocols=PADCHEST_GR_PROTOCOLS,
    main_score="acc@0.5_micro",
    metrics=BOX_METRICS,
    definitions={**BOX_DEFINITIONS, "category": "the MS-CXR category named by the finding's PadChest label, else "
                 "'other'; 'normal' for findings marked abnormal: false"},
    params=BoxTaskParams,
    implementation="msxr_bench.tasks.grounding.box_task:PadchestGrTask",
    locate="msxr_bench.tasks.grounding.box_spec:locate_padchest_gr",
    requires_any=(("boxes",), ("patches", "text")),
    row_strings={"sample_id": "id", "image_id": "id", "category": PADCHEST_CATEGORIES},
    chart_metrics=("acc@0.5", "best_box_iou", "union_iou"),
)
