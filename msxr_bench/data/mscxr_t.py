"""MS-CXR-T (PhysioNet `ms-cxr-t` 1.0.0, Bannur et al., CVPR 2023): both release CSVs -> samples.

- `MS_CXR_T_temporal_image_classification_v1.0.0.csv`: one row per (current, prior) image pair, columns
  `subject_id, study_id, dicom_id, previous_study_id, previous_dicom_id` and, per finding (consolidation, edema,
  pleural_effusion, pneumonia, pneumothorax), `{finding}_progression` in {improving, stable, worsening} (empty:
  not labelled) and `{finding}_label_quality`. -> one `ProgressionSample` per labelled (row, finding), id
  ``f"{dicom_id}/{finding}"``; PhysioNet's N = 1,326 counts these labels.
- `MS_CXR_T_temporal_sentence_similarity_v1.0.0.csv`: `sentence_1, sentence_2, category` in {paraphrase,
  contradiction} (361 rows; extra columns such as `subset_name` are ignored) -> `SentencePair`s whose id is the
  data-row number in the file ("1" = first row), stable whatever is skipped.

Column names as read by public code (no hi-ml code reads these files): SVT-Yang/MedST
`medst/models/medst/temporal_test.py` (dicom_id, previous_dicom_id, study_id, subject_id, {finding}_progression for
the five findings, images at `files/{dicom_id}.jpg`: ids are path-like; sentence file read with `category` and a
`subset_name` column); wonkwonlee/time-series-vision-model `src/model2.py` (`previous_dicom_id` / `dicom_id` split
on "/", values worsening / stable / improving); PabloMessina/MedVQA
`medvqa/datasets/seq2seq/seq2seq_dataset_management.py` (`sentence_1, sentence_2, category`, paraphrase /
contradiction). `label_quality` appears in third-party loaders only (one lists one_expert / multiple_experts /
disagreement, unverified): its values are kept verbatim and filtered by exact match.

`dicom_id` may be bare (`<id>`) or path-like (`pNN/pSUBJECT/sSTUDY/<id>`, optionally `files/`-prefixed and
`.jpg`-suffixed); a path must agree with the row's subject and study ids. Images are MIMIC-CXR-JPG
`files/pNN/pSUBJECT/sSTUDY/<id>.jpg`. A missing file or column is a DatasetFormatError naming it; bad rows are
counted skips naming the line: malformed id, missing prior, path that disagrees with the ids, unknown progression
value (that finding only), unknown sentence category, empty sentence, duplicate (image, finding), missing image.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from msxr_bench.data.types import DatasetFormatError, SkipReport

# msxr_bench.data.tables (pandas) is imported where a file is read: the task declarations import the names above,
# and `msxr-bench list` must not load pandas

IMAGE_FILE = "MS_CXR_T_temporal_image_classification_v1.0.0.csv"
SENTENCE_FILE = "MS_CXR_T_temporal_sentence_similarity_v1.0.0.csv"
DATASET_VERSION = "1.0.0"
FINDINGS: tuple[str, ...] = ("consolidation", "edema", "pleural_effusion", "pneumonia", "pneumothorax")
PROGRESSIONS: tuple[str, ...] = ("improving", "stable", "worsening")
SENTENCE_CATEGORIES: tuple[str, ...] = ("paraphrase", "contradiction")
ID_COLUMNS = ("subject_id", "study_id", "dicom_id", "previous_study_id", "previous_dicom_id")
IMAGE_COLUMNS = ID_COLUMNS + tuple(f"{f}_{kind}" for f in FINDINGS for kind in ("progression", "label_quality"))
SENTENCE_COLUMNS = ("sentence_1", "sentence_2", "category")
PHYSIONET_PREFIX = "ms-cxr-t"
_PATH_ID = re.compile(r"^(?:files/)?p(\d\d)/p(\d+)/s(\d+)/([^/]+?)(?:\.jpg)?$")
_NUMBER = re.compile(r"^(\d+)(?:\.0+)?$")  # 10002428 or 10002428.0 (a pandas float column)


@dataclass(frozen=True)
class ProgressionSample:
    """One labelled (current image, prior image, finding) of the classification file."""

    sample_id: str  # "<dicom_id>/<finding>"
    line: int  # line in the CSV (header = 1)
    finding: str  # one of FINDINGS
    label: str  # one of PROGRESSIONS
    label_quality: str  # as written in the file ('' when empty)
    subject_id: str
    study_id: str
    dicom_id: str  # bare
    previous_study_id: str
    previous_dicom_id: str  # bare
    image_path: Path
    previous_image_path: Path


@dataclass(frozen=True)
class SentencePair:
    pair_id: str  # data-row number in the file, "1" = first row
    sentence_1: str
    sentence_2: str
    category: str  # one of SENTENCE_CATEGORIES


def find_mscxrt_file(data_root: Path, name: str) -> Path:
    """`name` (IMAGE_FILE or SENTENCE_FILE) in DATA_ROOT/ms-cxr-t/, DATA_ROOT or a PhysioNet download folder
    (`ms-cxr-t-.../`); a file path is returned as is."""
    from msxr_bench.data.tables import dataset_dirs, first_existing

    data_root = Path(data_root)
    if data_root.is_file():
        return data_root
    dirs = dataset_dirs(data_root, "ms-cxr-t", (PHYSIONET_PREFIX,))
    found = first_existing(d / name for d in dirs)
    if found is None:
        raise DatasetFormatError(f"no MS-CXR-T file {name} in: {', '.join(map(str, dirs)) or data_root}")
    return found


def mimic_split_of_studies(data_root: Path) -> dict[str, str] | None:
    """{study_id: MIMIC-CXR split} from mimic-cxr-2.0.0-split.csv(.gz) under DATA_ROOT, None when there is none."""
    from msxr_bench.data.tables import files_parent, first_existing, read_csv_rows

    base = files_parent(Path(data_root), "mimic-cxr-jpg")
    table = first_existing([base / "mimic-cxr-2.0.0-split.csv.gz", base / "mimic-cxr-2.0.0-split.csv"])
    if table is None:
        return None
    _, rows = read_csv_rows(table, ("study_id", "split"), "MIMIC-CXR split table")
    return {_number(r.values["study_id"]) or r.values["study_id"].strip(): r.values["split"].strip() for r in rows}


def _number(value: str) -> str | None:
    match = _NUMBER.match(value.strip())
    return match.group(1) if match else None


def _image_id(value: str, subject: str, study: str) -> tuple[str | None, str | None]:
    """(bare dicom id, None) or (None, reason to skip the row)."""
    value = value.strip()
    if not value:
        return None, "missing prior"
    match = _PATH_ID.match(value)
    if match is None:
        if "/" in value:
            return None, "malformed dicom_id path"
        return value.removesuffix(".jpg"), None
    group, path_subject, path_study, dicom = match.groups()
    if (path_subject, path_study) != (subject, study) or group != subject[:2]:
        return None, "dicom_id path disagrees with subject_id/study_id"
    return dicom, None


def _image_path(base: Path, subject: str, study: str, dicom: str) -> Path:
    return base / "files" / f"p{subject[:2]}" / f"p{subject}" / f"s{study}" / f"{dicom}.jpg"


def _row_ids(r: dict[str, str]) -> tuple[tuple[str, str, str, str, str] | None, str | None]:
    """(subject, study, dicom, previous study, previous dicom) or a reason to skip the row."""
    subject, study = _number(r["subject_id"]), _number(r["study_id"])
    if subject is None or study is None or len(subject) < 2:
        return None, "malformed id"
    if not r["previous_study_id"].strip() or not r["previous_dicom_id"].strip():
        return None, "missing prior"
    previous_study = _number(r["previous_study_id"])
    if previous_study is None:
        return None, "malformed id"
    dicom, why = _image_id(r["dicom_id"], subject, study)
    if dicom is None:
        return None, "malformed id" if why == "missing prior" else why
    previous, why = _image_id(r["previous_dicom_id"], subject, previous_study)
    if previous is None:
        return None, why
    return (subject, study, dicom, previous_study, previous), None


def load_progression(csv: Path, images_root: Path, check_images: bool = True
                     ) -> tuple[list[ProgressionSample], SkipReport]:
    """Samples in file order (row, then finding order) and the report of what was skipped."""
    from msxr_bench.data.tables import files_parent, read_csv_rows, row_shape_problem

    csv = Path(csv)
    header, rows = read_csv_rows(csv, IMAGE_COLUMNS, "MS-CXR-T image classification CSV")
    base = files_parent(Path(images_root), "mimic-cxr-jpg")
    skips = SkipReport(source=csv.name)
    samples: list[ProgressionSample] = []
    seen: set[str] = set()
    for row in rows:
        r, where = row.values, f"{csv.name} line {row.line}"
        if (problem := row_shape_problem(row, len(header))) is not None:
            skips.add(problem[0], f"{csv.name} {problem[1]}")
            continue
        labels = {f: r[f"{f}_progression"].strip().lower() for f in FINDINGS}
        if not any(labels.values()):
            skips.add("row without any progression label", where)
            continue
        ids, why = _row_ids(r)
        if ids is None:
            skips.add(why, f"{where}: {r['dicom_id']!r} / prior {r['previous_dicom_id']!r}")
            continue
        subject, study, dicom, previous_study, previous = ids
        current_path = _image_path(base, subject, study, dicom)
        previous_path = _image_path(base, subject, previous_study, previous)
        if check_images and not current_path.is_file():
            skips.add("missing image", f"{where}: {current_path}")
            continue
        if check_images and not previous_path.is_file():
            skips.add("missing prior image", f"{where}: {previous_path}")
            continue
        for finding, label in labels.items():
            if not label:
                continue
            if label not in PROGRESSIONS:
                skips.add("unknown progression value", f"{where} {finding}_progression: {label!r}")
                continue
            sample_id = f"{dicom}/{finding}"
            if sample_id in seen:
                skips.add("duplicate (image, finding)", f"{where}: {sample_id}")
                continue
            seen.add(sample_id)
            samples.append(ProgressionSample(
                sample_id, row.line, finding, label, r[f"{finding}_label_quality"].strip(), subject, study, dicom,
                previous_study, previous, current_path, previous_path))
    return samples, skips


def load_sentence_pairs(csv: Path) -> tuple[list[SentencePair], SkipReport]:
    """Pairs in file order and the report of skipped rows."""
    from msxr_bench.data.tables import read_csv_rows, row_shape_problem

    csv = Path(csv)
    header, rows = read_csv_rows(csv, SENTENCE_COLUMNS, "MS-CXR-T sentence similarity CSV")
    skips = SkipReport(source=csv.name)
    pairs = []
    for i, row in enumerate(rows):
        r, where = row.values, f"{csv.name} line {row.line}"
        if (problem := row_shape_problem(row, len(header))) is not None:
            skips.add(problem[0], f"{csv.name} {problem[1]}")
            continue
        first, second, category = r["sentence_1"].strip(), r["sentence_2"].strip(), r["category"].strip().lower()
        if not first or not second:
            skips.add("empty sentence", where)
        elif category not in SENTENCE_CATEGORIES:
            skips.add("unknown category", f"{where}: {r['category']!r}")
        else:
            pairs.append(SentencePair(str(i + 1), first, second, category))
    return pairs, skips
