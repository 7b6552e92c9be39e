"""MS-CXR-T of the toy world: the temporal subjects' images and reports in the MIMIC-CXR trees (their rows join the
MIMIC tables through `write_mimic(extra_table_studies=...)`), the two release CSVs under `ms-cxr-t/`, and
`toyworld-temporal.json` (the ground truth: every temporal image with its findings, every subject's changes).

The classification CSV writes path-like ids (`pNN/pSUBJECT/sSTUDY/<dicom_id>`), as the public readers of the real
file expect; the sentence file holds temporal paraphrases and contradictions (`temporal_reports.sentence_pairs`).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from msxr_bench.data.mscxr_t import FINDINGS, ID_COLUMNS, IMAGE_FILE, SENTENCE_FILE
from msxr_bench.toyworld.ids import mimic_group
from msxr_bench.toyworld.plan import StudyPlan, stream
from msxr_bench.toyworld.scales import Scale
from msxr_bench.toyworld.temporal import TemporalSubject
from msxr_bench.toyworld.temporal_reports import sentence_pairs
from msxr_bench.toyworld.writers.common import parallel_map, write_bytes, write_csv, write_json
from msxr_bench.toyworld.writers.mimic import draw_image, image_path, study_dir

TRUTH_FILE = "toyworld-temporal.json"
CSV_COLUMNS = ID_COLUMNS + tuple(f"{f}_{kind}" for f in FINDINGS for kind in ("progression", "label_quality"))


def temporal_studies(subjects: list[TemporalSubject]) -> list[StudyPlan]:
    return [study for subject in subjects for study in subject.studies]


def path_id(study: StudyPlan, dicom_id: str) -> str:
    """`pNN/pSUBJECT/sSTUDY/<dicom_id>`: the form of the real MS-CXR-T file."""
    return f"{mimic_group(study.subject_id)}/p{study.subject_id}/s{study.study_id}/{dicom_id}"


def classification_rows(subjects: list[TemporalSubject]) -> pd.DataFrame:
    rows = []
    for subject in subjects:
        if not subject.mscxrt:
            continue
        current, prior = subject.current, subject.prior
        row = {"subject_id": subject.subject_id, "study_id": current.study_id,
               "dicom_id": path_id(current, current.frontal.dicom_id), "previous_study_id": prior.study_id,
               "previous_dicom_id": path_id(prior, prior.frontal.dicom_id)}
        row.update({c: "" for c in CSV_COLUMNS[len(ID_COLUMNS):]})
        for change in subject.changes:
            row[f"{change.finding}_progression"] = change.progression
            row[f"{change.finding}_label_quality"] = change.label_quality
        rows.append(row)
    return pd.DataFrame(rows, columns=list(CSV_COLUMNS))


def _truth(subjects: list[TemporalSubject], boxes: dict[str, list]) -> dict:
    images, pairs = {}, []
    for subject in subjects:
        for study in subject.studies:
            for image in study.images:
                images[image.dicom_id] = {
                    "subject_id": study.subject_id, "study_id": study.study_id, "split": study.split,
                    "view": image.view, "path": image_path(study, image), "height": image.size[0],
                    "width": image.size[1], "study_date": study.study_date, "study_time": study.study_time,
                    "findings": [] if not image.frontal else [
                        {"category": f.category, "side": f.side, "zone": f.zone, "severity": f.severity,
                         "boxes": [list(b) for b in per_finding]}
                        for f, per_finding in zip(study.findings, boxes[image.dicom_id])]}
        pairs.append({"subject_id": subject.subject_id, "split": subject.split, "mscxrt": subject.mscxrt,
                      "current": subject.current.frontal.dicom_id, "prior": subject.prior.frontal.dicom_id,
                      "changes": [{"finding": c.finding, "progression": c.progression, "level": c.current_level,
                                   "label_quality": c.label_quality} for c in subject.changes]})
    return {"images": images, "subjects": pairs}


def write_mscxrt(out: Path, subjects: list[TemporalSubject], seed: int, scale: Scale, workers: int = 1) -> dict:
    """Draw and write the temporal images and reports, the two MS-CXR-T files and the truth; returns counts."""
    jpg_root, reports_root = out / "mimic-cxr-jpg", out / "mimic-cxr-reports"
    studies = temporal_studies(subjects)
    for study in studies:
        write_bytes(study.report.text.encode(), reports_root / f"{study_dir(study)}.txt")
    jobs = [(study, image) for study in studies for image in study.images]
    drawn = parallel_map(draw_image, [(im, st.findings) for st, im in jobs], workers, "MS-CXR-T images")
    boxes = {}
    for (study, image), (data, image_boxes) in zip(jobs, drawn):
        write_bytes(data, jpg_root / image_path(study, image))
        boxes[image.dicom_id] = image_boxes
    classification = classification_rows(subjects)
    write_csv(classification, out / "ms-cxr-t" / IMAGE_FILE)
    sentences = pd.DataFrame(sentence_pairs(stream(seed, "mscxr-t-sentences"), scale.mscxrt_sentence_pairs),
                             columns=["sentence_1", "sentence_2", "category"])
    write_csv(sentences, out / "ms-cxr-t" / SENTENCE_FILE)
    write_json(_truth(subjects, boxes), out / TRUTH_FILE, indent=None)
    labels = sum(len(s.changes) for s in subjects if s.mscxrt)
    return {"pairs": len(classification), "labels": labels, "sentence_pairs": len(sentences),
            "training_subjects": sum(not s.mscxrt for s in subjects), "images": len(jobs)}
