"""MIMIC-CXR-JPG images paired with their MIMIC-CXR report sections (for training) -> `ImageReportPair`s.

Joins `mimic-cxr-2.0.0-split.csv(.gz)` and `mimic-cxr-2.0.0-metadata.csv(.gz)` (from the JPG release root)
on `dicom_id`; images are `files/pNN/pSUBJECT/sSTUDY/<dicom_id>.jpg`, reports
`files/pNN/pSUBJECT/sSTUDY.txt` under the reports root, parsed with `reports.parse_sections`.
The official split values are train / validate / test; "val", "valid" and "validation" are accepted as
aliases of "validate" (pairs still carry "validate"); `split=None` keeps every split.
Counted skips (never silent): no metadata row, ids that disagree between the two tables, a missing or
non-frontal ViewPosition (frontal = PA or AP, when `frontal_only`), a missing image (when `check_images`),
a missing report, a report without the requested section text, a malformed id, an unknown split value.
`section` is a section name ("impression", "findings", ...), alternatives joined by "|" (any non-empty one
suffices), "conclusion" (the official impression > findings > last_paragraph > comparison), or None.
`image_format="dicom"` reads the images of the MIMIC-CXR DICOM release instead (`<dicom_root>/files/pNN/pSUBJECT/
sSTUDY/<dicom_id>.dcm`, PhysioNet's `mimic-cxr/2.x.0`): the split and metadata tables still come from the JPG
release root (the DICOM release has no split table), so both formats see exactly the same pairs.
"""

from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from msxr_bench.data.reports import conclusion, parse_sections
from msxr_bench.data.tables import files_parent, first_existing, read_table
from msxr_bench.data.types import DatasetFormatError, ImageReportPair, SkipReport

SPLITS = ("train", "validate", "test")
SPLIT_ALIASES = {"val": "validate", "valid": "validate", "validation": "validate"}
FRONTAL_VIEWS = ("PA", "AP")
SPLIT_COLUMNS = ("dicom_id", "study_id", "subject_id", "split")
METADATA_COLUMNS = ("dicom_id", "subject_id", "study_id", "ViewPosition")


def find_mimic_roots(data_root: Path) -> tuple[Path, Path]:
    """(MIMIC-CXR-JPG root holding the split/metadata tables and `files/`, reports root holding `files/`)
    under DATA_ROOT/mimic-cxr-jpg/ and DATA_ROOT/mimic-cxr-reports/ (or PhysioNet's mimic-cxr[-jpg]/<version>)."""
    data_root = Path(data_root)
    jpg = files_parent(data_root, "mimic-cxr-jpg")
    if _table(jpg, "split") is None:
        raise DatasetFormatError(f"no MIMIC-CXR-JPG release (files/ and mimic-cxr-2.0.0-split.csv.gz) under {data_root}")
    for folder in ("mimic-cxr-reports", "mimic-cxr"):
        reports = files_parent(data_root / folder, folder)
        if (reports / "files").is_dir():
            return jpg, reports
    raise DatasetFormatError(f"no MIMIC-CXR reports (mimic-cxr-reports/files/pNN/pSUBJECT/sSTUDY.txt) under {data_root}")


def find_mimic_dicom_root(data_root: Path) -> Path:
    """The MIMIC-CXR DICOM release folder (holding files/pNN/pSUBJECT/sSTUDY/*.dcm) under DATA_ROOT/mimic-cxr/
    (or PhysioNet's mimic-cxr/<version>/)."""
    root = files_parent(Path(data_root) / "mimic-cxr", "mimic-cxr")
    if not (root / "files").is_dir() or next((root / "files").rglob("*.dcm"), None) is None:
        raise DatasetFormatError(f"no MIMIC-CXR DICOM release (mimic-cxr/files/pNN/pSUBJECT/sSTUDY/*.dcm) under "
                                 f"{data_root}")
    return root


def load_mimic_pairs(
    jpg_root: Path,
    reports_root: Path,
    split: str | None = "train",
    frontal_only: bool = True,
    section: str | None = "impression",
    check_images: bool = True,
    image_format: str = "jpg",
    dicom_root: Path | None = None,
) -> tuple[list[ImageReportPair], SkipReport]:
    """Image-report pairs of `split` in split-table order, and the report of skipped images."""
    wanted = _canonical_split(split)
    if image_format not in ("jpg", "dicom") or (image_format == "dicom") != (dicom_root is not None):
        raise ValueError(f"image_format must be 'jpg', or 'dicom' with a dicom_root; got {image_format!r}, "
                         f"dicom_root {dicom_root}")
    jpg_base = files_parent(Path(jpg_root), "mimic-cxr-jpg")
    image_base = jpg_base if dicom_root is None else files_parent(Path(dicom_root), "mimic-cxr")
    suffix = ".jpg" if image_format == "jpg" else ".dcm"
    split_csv, meta_csv = _table(jpg_base, "split"), _table(jpg_base, "metadata")
    for name, found in (("split", split_csv), ("metadata", meta_csv)):
        if found is None:
            raise DatasetFormatError(f"mimic-cxr-2.0.0-{name}.csv(.gz) not found in {jpg_base}")
    reports_files = files_parent(Path(reports_root), "mimic-cxr-reports") / "files"
    if not reports_files.is_dir():
        raise DatasetFormatError(f"MIMIC-CXR reports folder not found: {reports_files}")
    table = read_table(split_csv, SPLIT_COLUMNS, "MIMIC-CXR split table")
    meta = read_table(meta_csv, METADATA_COLUMNS, "MIMIC-CXR metadata table")
    metadata = {d.strip(): (s.strip(), st.strip(), v.strip()) for d, s, st, v in zip(
        *(meta[c].tolist() for c in ("dicom_id", "subject_id", "study_id", "ViewPosition")))}
    skips = SkipReport(source=str(split_csv))
    reports: dict[str, dict[str, str] | None] = {}
    pairs = []
    rows = zip(*(table[c].tolist() for c in SPLIT_COLUMNS))
    for dicom, study, subject, value in tqdm(rows, total=len(table), desc="MIMIC-CXR pairs", disable=None):
        dicom, study, subject = dicom.strip(), study.strip(), subject.strip()
        value = value.strip()
        if wanted is not None and value != wanted:
            continue
        if value not in SPLITS:
            skips.add("unknown split value", f"{dicom}: {value!r}")
            continue
        if not (dicom and study.isdigit() and subject.isdigit() and len(subject) >= 2):
            skips.add("malformed id", f"{dicom} / s{study} / p{subject}")
            continue
        if dicom not in metadata:
            skips.add("no metadata row", dicom)
            continue
        meta_subject, meta_study, view = metadata[dicom]
        if (meta_subject, meta_study) != (subject, study):
            skips.add("split and metadata tables disagree on subject/study", dicom)
            continue
        if frontal_only and view not in FRONTAL_VIEWS:
            skips.add("not a frontal view" if view else "missing ViewPosition", f"{dicom}: {view!r}")
            continue
        folder = Path(f"p{subject[:2]}") / f"p{subject}"
        image_path = image_base / "files" / folder / f"s{study}" / f"{dicom}{suffix}"
        if check_images and not image_path.is_file():
            skips.add("missing image", str(image_path))
            continue
        if study not in reports:
            reports[study] = _read_report(reports_files / folder / f"s{study}.txt")
        sections = reports[study]
        if sections is None:
            skips.add("missing report", str(reports_files / folder / f"s{study}.txt"))
            continue
        if not _has_text(sections, section):
            skips.add(f"report without {section}", f"s{study}")
            continue
        pairs.append(ImageReportPair(dicom, study, subject, image_path, sections, value, view or None))
    return pairs, skips


def _canonical_split(split: str | None) -> str | None:
    if split is None:
        return None
    name = SPLIT_ALIASES.get(split.strip().lower(), split.strip().lower())
    if name not in SPLITS:
        raise ValueError(f"unknown MIMIC-CXR split {split!r}; valid splits: {', '.join(SPLITS)} (or val)")
    return name


def _table(base: Path, name: str) -> Path | None:
    stem = f"mimic-cxr-2.0.0-{name}.csv"
    return first_existing([base / f"{stem}.gz", base / stem])


def _read_report(path: Path) -> dict[str, str] | None:
    try:
        return parse_sections(path.read_text(encoding="utf-8", errors="replace"))
    except FileNotFoundError:
        return None


def _has_text(sections: dict[str, str], section: str | None) -> bool:
    if section is None:
        return True
    if section == "conclusion":
        return bool(conclusion(sections))
    return any(sections.get(name.strip()) for name in section.split("|"))
