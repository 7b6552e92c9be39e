"""PadChest-GR (BIMCV, 2024): grounded reports JSON + master table split + PNG images -> `GroundingSample`s, one
per (image, finding sentence), including sentences without boxes (generalised grounding).

Fields as public loaders read them: uzh-dqbm-cmi/RadVLM-GRPO `RadVLM/radvlm/data/datasets.py` (PadChest_grounding:
records' `ImageID` and `findings`, each finding's `sentence_en` and `boxes`; `master_table.csv` with `ImageID`,
`split` in train / validation / test, `PatientSex_DICOM`), furkan-uzmez/Medical_Datasets
`PadChest-GR/convert_to_binary_csv.py` (master table: several rows per `ImageID`, `label`, `label_group`, `split`).
Boxes are normalised corners (x1, y1, x2, y2) of the original image: RadVLM feeds them as it feeds its normalised
[x1, y1, x2, y2] MS-CXR boxes, and two further public loaders (unnamed in the code index) convert them as
`[x1 * W, y1 * H, x2 * W, y2 * H]`; `extra_boxes` is a second reader's annotation (kept, counted, not scored).
`abnormal`, `labels`, `locations`, `progression`, `sentence_es` are optional per finding (normal findings omit
the box keys). Sentences are dataset text (BIMCV's research-use terms): rows never hold them.

Bad input: a missing file or column is a DatasetFormatError naming it; a finding without `sentence_en`, a box
that is not four numbers in [0, 1] with x2 > x1 and y2 > y1 (1e-6 tolerance, then clipped), an image without a
split or with two, or a missing / unreadable image are counted skips.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from msxr_bench.data.images import ImageDecodeError, image_size
from msxr_bench.data.tables import dataset_dirs, first_existing, read_table
from msxr_bench.data.types import MS_CXR_CATEGORIES, Box, DatasetFormatError, GroundingSample, SkipReport

SPLITS = ("train", "validation", "test")
IMAGE_FOLDERS = ("PadChest_GR", "Padchest_GR_files/PadChest_GR", "images_grounding", "images", ".")
# PadChest labels that name an MS-CXR category; other abnormal findings are "other", normal ones "normal"
LABEL_CATEGORY = {"atelectasis": "Atelectasis", "cardiomegaly": "Cardiomegaly", "consolidation": "Consolidation",
                  "pulmonary edema": "Edema", "pleural effusion": "Pleural Effusion", "pneumonia": "Pneumonia",
                  "pneumothorax": "Pneumothorax"}
CATEGORIES = MS_CXR_CATEGORIES + ("other", "normal")
TOLERANCE = 1e-6


@dataclass(frozen=True)
class PadchestFiles:
    reports: Path
    master: Path
    images: Path


def find_padchest_gr(data_root: Path) -> PadchestFiles:
    """The grounded reports JSON, master table and image folder under DATA_ROOT/padchest-gr/ or DATA_ROOT."""
    for folder in dataset_dirs(Path(data_root), "padchest-gr", ("PadChest_GR", "padchest-gr")):
        reports = first_existing(sorted(folder.glob("grounded_reports*.json"), reverse=True))
        master = first_existing([folder / "master_table.csv", folder / "master_table.csv.zip"])
        if reports is not None and master is not None:
            images = next((folder / f for f in IMAGE_FOLDERS if (folder / f).is_dir() and
                           any((folder / f).glob("*.png"))), folder)
            return PadchestFiles(reports, master, images)
    raise DatasetFormatError(f"no PadChest-GR release (grounded_reports_*.json and master_table.csv[.zip]) under "
                             f"{data_root} or {Path(data_root) / 'padchest-gr'}")


def _splits(master: Path, skips: SkipReport) -> dict[str, tuple[str, str]]:
    """ImageID -> (split, PatientID); images listed under two splits are dropped and counted."""
    table = read_table(master, ("ImageID", "split"), "PadChest-GR master table")
    has_patient = "PatientID" in table.columns
    out: dict[str, tuple[str, str]] = {}
    bad: set[str] = set()
    patients = table["PatientID"].tolist() if has_patient else [""] * len(table)
    for image, split, patient in zip(table["ImageID"].tolist(), table["split"].tolist(), patients):
        image, split = image.strip(), split.strip().lower()
        if image in out and out[image][0] != split:
            bad.add(image)
        out.setdefault(image, (split, patient.strip()))
    for image in sorted(bad):
        skips.add("image with two splits in the master table", image)
        out.pop(image)
    return out


def _box(raw: object) -> Box | None:
    """A normalised (x1, y1, x2, y2) as a unit-frame Box (scaled to pixels later), None when malformed."""
    if not isinstance(raw, (list, tuple)) or len(raw) != 4:
        return None
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in raw):
        return None
    x1, y1, x2, y2 = (float(v) for v in raw)
    if min(x1, y1) < -TOLERANCE or max(x2, y2) > 1 + TOLERANCE or x2 <= x1 or y2 <= y1:
        return None
    x1, y1, x2, y2 = max(x1, 0.0), max(y1, 0.0), min(x2, 1.0), min(y2, 1.0)
    return Box(x1, y1, x2 - x1, y2 - y1)


def category_of(finding: dict) -> str:
    if finding.get("abnormal") is False:
        return "normal"
    labels = [str(x).strip().lower() for x in finding.get("labels") or []]
    return next((LABEL_CATEGORY[x] for x in labels if x in LABEL_CATEGORY), "other")


def load_padchest_gr(files: PadchestFiles, split: str | None = None,
                     check_images: bool = True) -> tuple[list[GroundingSample], SkipReport]:
    """Samples in file order (optionally one split: train / validation / test) and what was skipped."""
    skips = SkipReport(source=files.reports.name)
    if split is not None and split not in SPLITS:
        raise ValueError(f"unknown PadChest-GR split {split!r}; splits: {', '.join(SPLITS)}")
    split_of = _splits(files.master, skips)
    try:
        data = json.loads(files.reports.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatasetFormatError(f"{files.reports}: not valid JSON: {exc}") from exc
    if not isinstance(data, list):
        raise DatasetFormatError(f"{files.reports}: expected a list of grounded-report records")
    samples = []
    for i, record in enumerate(data):
        if not isinstance(record, dict) or not isinstance(record.get("ImageID"), str) \
                or not isinstance(record.get("findings"), list):
            raise DatasetFormatError(f"{files.reports}: record {i} lacks 'ImageID' or a 'findings' list")
        image_id = record["ImageID"].strip()
        if image_id not in split_of:
            skips.add("image without a split in the master table", image_id)
            continue
        part, patient = split_of[image_id]
        if split is not None and part != split:
            continue
        path = files.images / image_id
        size = _size(path, skips, image_id) if check_images else None
        if check_images and size is None:
            continue
        for k, finding in enumerate(record["findings"]):
            sample = _sample(finding, image_id, k, path, size, part, patient, skips)
            if sample is not None:
                samples.append(sample)
    return samples, skips


def _size(path: Path, skips: SkipReport, image_id: str) -> tuple[int, int] | None:
    if not path.is_file():
        skips.add("missing image", image_id)
        return None
    try:
        return image_size(path)
    except ImageDecodeError:
        skips.add("unreadable image", image_id)
        return None


def _sample(finding: object, image_id: str, k: int, path: Path, size: tuple[int, int] | None, part: str,
            patient: str, skips: SkipReport) -> GroundingSample | None:
    where = f"{image_id} finding {k}"
    if not isinstance(finding, dict) or not isinstance(finding.get("sentence_en"), str) \
            or not finding["sentence_en"].strip():
        skips.add("finding without sentence_en", where)
        return None
    boxes = [_box(b) for b in finding.get("boxes") or []]
    if any(b is None for b in boxes):
        skips.add("finding with a malformed box (not normalised x1, y1, x2, y2)", where)
        return None
    h, w = size if size is not None else (1, 1)
    stem = Path(image_id).stem
    return GroundingSample(sample_id=f"{stem}/{k}", dicom_id=stem, image_path=path, category=category_of(finding),
                           phrase=finding["sentence_en"].strip(), boxes=tuple(b.scaled(w, h) for b in boxes),
                           image_size=(h, w), split=part, subject_id=patient or None)
