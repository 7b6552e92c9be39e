"""The prior image of each MIMIC-CXR-JPG frontal image, from `mimic-cxr-2.0.0-metadata.csv(.gz)`: a frontal image of
the subject's previous study by (StudyDate, StudyTime) -- the latest earlier study that has a frontal image (PA or
AP); among its frontal images the first PA, else the first AP, in table order. Studies of one subject at the same
(StudyDate, StudyTime) are not ordered and are never each other's prior. For BioViL-T's temporal training pairs.

Counted skips: a metadata row with a malformed id, date or time, or the wrong number of fields (that image is neither
a current nor a prior).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path

from msxr_bench.data.mimic import FRONTAL_VIEWS
from msxr_bench.data.tables import files_parent, first_existing, read_csv_rows, row_shape_problem
from msxr_bench.data.types import DatasetFormatError, SkipReport

COLUMNS = ("dicom_id", "subject_id", "study_id", "ViewPosition", "StudyDate", "StudyTime")
_ID = re.compile(r"^\d+$")


@dataclass(frozen=True)
class PriorImage:
    dicom_id: str
    study_id: str
    path: Path  # files/pNN/pSUBJECT/sSTUDY/<dicom_id>.jpg under the MIMIC-CXR-JPG root


def _stamp(date: str, time: str) -> tuple[int, float] | None:
    try:
        return int(float(date)), float(time)
    except ValueError:
        return None


def prior_images(jpg_root: Path) -> tuple[dict[str, PriorImage], SkipReport]:
    """{dicom_id of a frontal image with a prior: its prior} and the report of unusable metadata rows."""
    base = files_parent(Path(jpg_root), "mimic-cxr-jpg")
    table = first_existing([base / "mimic-cxr-2.0.0-metadata.csv.gz", base / "mimic-cxr-2.0.0-metadata.csv"])
    if table is None:
        raise DatasetFormatError(f"mimic-cxr-2.0.0-metadata.csv(.gz) not found in {base}")
    skips = SkipReport(source=table.name)
    studies: dict[str, dict[str, tuple]] = {}  # subject -> study -> (stamp, [frontal (view, dicom)...])
    header, rows = read_csv_rows(table, COLUMNS, "MIMIC-CXR metadata table")
    for i, row in enumerate(rows):
        r = row.values
        if (problem := row_shape_problem(row, len(header))) is not None:
            skips.add(problem[0], f"{table.name} {problem[1]}")
            continue
        subject, study, dicom = r["subject_id"].strip(), r["study_id"].strip(), r["dicom_id"].strip()
        stamp = _stamp(r["StudyDate"].strip(), r["StudyTime"].strip())
        if not (_ID.match(subject) and _ID.match(study) and dicom) or stamp is None:
            skips.add("malformed id, StudyDate or StudyTime", f"{table.name} line {row.line}")
            continue
        entry = studies.setdefault(subject, {}).setdefault(study, (stamp, []))
        if r["ViewPosition"].strip() in FRONTAL_VIEWS:
            entry[1].append((FRONTAL_VIEWS.index(r["ViewPosition"].strip()), i, dicom))
    priors: dict[str, PriorImage] = {}
    for subject, by_study in studies.items():
        ordered = sorted(by_study.items(), key=lambda kv: kv[1][0])
        latest: tuple[str, str] | None = None  # (study, dicom) of the latest strictly earlier study with a frontal
        for _, group in groupby(ordered, key=lambda kv: kv[1][0]):  # studies at one (StudyDate, StudyTime)
            group = list(group)
            if latest is not None:
                for _, (_, frontal) in group:
                    for *_, dicom in frontal:
                        priors[dicom] = PriorImage(latest[1], latest[0], _path(base, subject, *latest))
            with_frontal = [(study, min(frontal)[2]) for study, (_, frontal) in group if frontal]
            if with_frontal:
                latest = with_frontal[0]
    return priors, skips


def _path(base: Path, subject: str, study: str, dicom: str) -> Path:
    return base / "files" / f"p{subject[:2]}" / f"p{subject}" / f"s{study}" / f"{dicom}.jpg"
