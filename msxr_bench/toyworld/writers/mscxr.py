"""MS-CXR: `MS_CXR_Local_Alignment_v1.0.0.{csv,json}` (release 0.1, no split) and
`MS_CXR_Local_Alignment_v1.1.0.{csv,json}` (patient-level train/val/test split).

COCO JSON with float boxes; the CSV is what the official converter makes of it (one row per box,
ints by truncation). Like the real 1.1.0 file (1,120 image records for 1,047 images), some images with
two phrases carry their second phrase under a duplicate image record (same path, another id).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from msxr_bench.data.types import MS_CXR_CATEGORIES
from msxr_bench.toyworld.plan import StudyPlan
from msxr_bench.toyworld.writers.common import write_csv, write_json
from msxr_bench.toyworld.writers.mimic import image_path

CSV_COLUMNS = ("dicom_id", "category_name", "label_text", "path", "x", "y", "w", "h", "image_width", "image_height")
VERSIONS = {"v1.0.0": False, "v1.1.0": True}  # file suffix -> has a split


def build_coco(studies: list[StudyPlan], truth: dict, with_split: bool) -> dict:
    images, annotations = [], []
    two_phrase_images = 0
    for study in studies:
        if not study.mscxr_findings:
            continue
        image = study.frontal
        entry = truth[image.dicom_id]
        record = {"id": len(images) + 1, "file_name": f"{image.dicom_id}.jpg", "path": image_path(study, image),
                  "width": entry["width"], "height": entry["height"]}
        images.append(record)
        for k, index in enumerate(study.mscxr_findings):
            finding = entry["findings"][index]
            image_id = record["id"]
            if k == 1:
                two_phrase_images += 1
                if two_phrase_images % 2 == 1:  # every other two-phrase image: duplicate record
                    images.append({**record, "id": len(images) + 1})
                    image_id = images[-1]["id"]
            for box in finding["boxes"]:
                ann = {"id": len(annotations) + 1, "image_id": image_id,
                       "category_id": MS_CXR_CATEGORIES.index(finding["category"]) + 1,
                       "bbox": [float(v) for v in box], "label_text": finding["phrase"],
                       "width": entry["width"], "height": entry["height"]}
                if with_split:
                    ann["split"] = study.mscxr_split
                annotations.append(ann)
    categories = [{"id": i + 1, "name": name} for i, name in enumerate(MS_CXR_CATEGORIES)]
    return {"images": images, "annotations": annotations, "categories": categories}


def coco_to_rows(coco: dict, with_split: bool) -> pd.DataFrame:
    """The official converter's rows: one per box, image fields from the annotation's image record."""
    images = {im["id"]: im for im in coco["images"]}
    names = {c["id"]: c["name"] for c in coco["categories"]}
    rows = []
    for ann in coco["annotations"]:
        im = images[ann["image_id"]]
        x, y, w, h = (int(v) for v in ann["bbox"])
        row = {"dicom_id": Path(im["file_name"]).stem, "category_name": names[ann["category_id"]],
               "label_text": ann["label_text"], "path": im["path"], "x": x, "y": y, "w": w, "h": h,
               "image_width": im["width"], "image_height": im["height"]}
        if with_split:
            row["split"] = ann["split"]
        rows.append(row)
    columns = list(CSV_COLUMNS) + (["split"] if with_split else [])
    return pd.DataFrame(rows, columns=columns)


def write_mscxr(root: Path, studies: list[StudyPlan], truth: dict) -> dict:
    """Both releases' CSV and JSON; returns counts for the world summary."""
    counts = {}
    for version, with_split in VERSIONS.items():
        coco = build_coco(studies, truth, with_split)
        write_json(coco, root / f"MS_CXR_Local_Alignment_{version}.json", indent=None)
        rows = coco_to_rows(coco, with_split)
        write_csv(rows, root / f"MS_CXR_Local_Alignment_{version}.csv")
        counts = {"box_rows": len(rows), "image_records": len(coco["images"]),
                  "images": len({im["path"] for im in coco["images"]}),
                  "pairs": int(rows.groupby(["dicom_id", "label_text"]).ngroups)}
    return counts
