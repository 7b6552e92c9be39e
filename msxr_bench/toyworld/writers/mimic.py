"""MIMIC-CXR-JPG tree + CSVs and the MIMIC-CXR reports tree, from the world plan.

Writes `files/pNN/pSUBJECT/sSTUDY/<dicom_id>.jpg`, `mimic-cxr-2.0.0-{split,metadata,chexpert}.csv.gz`
and `<reports>/files/pNN/pSUBJECT/sSTUDY.txt`; returns the ground truth of every image drawn.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from msxr_bench.toyworld.findings import Finding
from msxr_bench.toyworld.ids import mimic_group
from msxr_bench.toyworld.plan import ImagePlan, StudyPlan
from msxr_bench.toyworld.render import render_frontal, render_lateral
from msxr_bench.toyworld.reports import CHEXPERT_COLUMNS
from msxr_bench.toyworld.writers.common import jpeg_bytes, parallel_map, write_bytes, write_csv

METADATA_COLUMNS = (
    "dicom_id", "subject_id", "study_id", "PerformedProcedureStepDescription", "ViewPosition", "Rows", "Columns",
    "StudyDate", "StudyTime", "ProcedureCodeSequence_CodeMeaning", "ViewCodeSequence_CodeMeaning",
    "PatientOrientationCodeSequence_CodeMeaning",
)
VIEW_MEANINGS = {"PA": "postero-anterior", "AP": "antero-posterior", "LATERAL": "lateral", "LL": "left lateral"}


def study_dir(study: StudyPlan) -> str:
    """`files/pNN/pSUBJECT/sSTUDY` (relative to the MIMIC-CXR-JPG root)."""
    return f"files/{mimic_group(study.subject_id)}/p{study.subject_id}/s{study.study_id}"


def image_path(study: StudyPlan, image: ImagePlan) -> str:
    return f"{study_dir(study)}/{image.dicom_id}.jpg"


def draw_image(job: tuple[ImagePlan, list[Finding]]) -> tuple[bytes, list]:
    """JPEG bytes of one image and, for frontal views, the boxes of each finding."""
    image, findings = job
    H, W = image.size
    quality = 75 if max(H, W) > 1024 else 85
    if not image.frontal:
        return jpeg_bytes(render_lateral(image.anatomy, H, W), quality), []
    drawn = render_frontal(image.anatomy, findings, H, W)
    return jpeg_bytes(drawn.pixels, quality), drawn.boxes


def write_mimic(jpg_root: Path, reports_root: Path, studies: list[StudyPlan], workers: int = 1,
                extra_table_studies: list[StudyPlan] = ()) -> dict:
    """Draw and write every image and report; returns {dicom_id: ground truth}. `extra_table_studies` (drawn by
    another writer, e.g. the temporal one) join the split/metadata/CheXpert tables only."""
    for study in studies:
        write_bytes(study.report.text.encode(), reports_root / f"{study_dir(study)}.txt")
    jobs = [(study, image) for study in studies for image in study.images]
    drawn = parallel_map(draw_image, [(im, st.findings) for st, im in jobs], workers, "MIMIC-CXR images")
    truth: dict = {}
    for (study, image), (data, boxes) in zip(jobs, drawn):
        write_bytes(data, jpg_root / image_path(study, image))
        H, W = image.size
        entry = {"subject_id": study.subject_id, "study_id": study.study_id, "split": study.split,
                 "view": image.view, "path": image_path(study, image), "height": H, "width": W,
                 "negated": list(study.report.negated), "findings": []}
        if image.frontal:
            entry["findings"] = [
                {"category": f.category, "side": f.side, "zone": f.zone, "severity": f.severity, "hard": f.hard,
                 "phrase": p.text, "boxes": [list(b) for b in per_finding]}
                for f, p, per_finding in zip(study.findings, study.report.phrases, boxes)
            ]
        truth[image.dicom_id] = entry
    _write_tables(jpg_root, list(studies) + list(extra_table_studies))
    return truth


def _write_tables(jpg_root: Path, studies: list[StudyPlan]) -> None:
    ordered = sorted(studies, key=lambda s: (int(s.subject_id), int(s.study_id)))
    split_rows, meta_rows, label_rows = [], [], []
    for s in ordered:
        exam = s.report.text.splitlines()[1].split(":", 1)[1].strip()
        for im in s.images:
            split_rows.append({"dicom_id": im.dicom_id, "study_id": int(s.study_id), "subject_id": int(s.subject_id),
                               "split": s.split})
            orientation = "Erect" if im.view in ("PA", "LATERAL", "LL") else ("Recumbent" if im.view == "AP" else None)
            meta_rows.append({
                "dicom_id": im.dicom_id, "subject_id": int(s.subject_id), "study_id": int(s.study_id),
                "PerformedProcedureStepDescription": exam, "ViewPosition": im.view,
                "Rows": im.size[0], "Columns": im.size[1], "StudyDate": s.study_date, "StudyTime": s.study_time,
                "ProcedureCodeSequence_CodeMeaning": exam, "ViewCodeSequence_CodeMeaning": VIEW_MEANINGS.get(im.view),
                "PatientOrientationCodeSequence_CodeMeaning": orientation,
            })
        labels = {c: s.report.chexpert.get(c, np.nan) for c in CHEXPERT_COLUMNS}
        label_rows.append({"subject_id": int(s.subject_id), "study_id": int(s.study_id), **labels})
    write_csv(pd.DataFrame(split_rows, columns=["dicom_id", "study_id", "subject_id", "split"]),
              jpg_root / "mimic-cxr-2.0.0-split.csv.gz")
    write_csv(pd.DataFrame(meta_rows, columns=list(METADATA_COLUMNS)), jpg_root / "mimic-cxr-2.0.0-metadata.csv.gz")
    chexpert = pd.DataFrame(label_rows, columns=["subject_id", "study_id", *CHEXPERT_COLUMNS])
    chexpert[list(CHEXPERT_COLUMNS)] = chexpert[list(CHEXPERT_COLUMNS)].astype(float)
    write_csv(chexpert, jpg_root / "mimic-cxr-2.0.0-chexpert.csv.gz")
