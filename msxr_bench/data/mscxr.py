"""MS-CXR phrase grounding (PhysioNet `ms-cxr` v0.1 and v1.1.0, CSV or COCO JSON) -> `GroundingSample`s.

One sample per (image, phrase) with the union of its boxes (rows grouped by dicom_id and label_text; JSON
annotations by image path, never by image id, which repeats). `sample_id` is ``f"{dicom_id}/{k}"`` where k
counts the distinct phrases of that image in file order over all rows, so ids do not move when rows
elsewhere are skipped or a split is selected.

Bad input (never guessed at):
- missing file, missing CSV column or JSON field -> DatasetFormatError naming file and column;
- a box row with a non-numeric value, a non-positive size, a box more than 1 px outside
  ``image_width x image_height``, an unknown category, an empty phrase or an unknown split value is skipped
  and counted; the whole (image, phrase) sample it belongs to is then dropped too (its mask would be
  incomplete) and counted once as "phrase dropped: a box row was rejected". Boxes within 1 px are clipped.
  (A row with an empty phrase cannot be attributed to a sample; it is only counted.);
- one phrase of one image listed under two categories -> sample dropped (its category is unknown);
- an exact duplicate row (same image, category, phrase, box) is skipped and counted, the sample kept;
- rows of one image that disagree on path or size, or one phrase with two split values -> sample dropped;
- a CSV row with fewer or more fields than the header -> skipped and counted ("row has too few fields", with
  its line), and the (image, phrase) sample it names is dropped as for a rejected box row;
- a missing or unreadable image (when `check_images`) -> counted skip naming the path, under the image's reason.
Skip examples name the file line / sample id, never the phrase (dataset text).
With `check_images`, each image's size is read from its header and boxes are rescaled from
``image_width x image_height`` to it (per axis); without it, nothing on disk is touched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from msxr_bench.data.images import ImageDecodeError, image_size
from msxr_bench.data.mscxr_files import BoxRow, read_box_rows
from msxr_bench.data.tables import dataset_dirs, files_parent, parse_number
from msxr_bench.data.types import MS_CXR_CATEGORIES, Box, DatasetFormatError, GroundingSample, SkipReport

STEMS = {"1.1.0": "MS_CXR_Local_Alignment_v1.1.0", "0.1": "MS_CXR_Local_Alignment_v1.0.0"}
VERSION_ALIASES = {"1.1.0": "1.1.0", "1.1": "1.1.0", "0.1": "0.1", "1.0.0": "0.1", "1.0": "0.1"}
SPLITS = ("train", "val", "test")
SPLIT_ALIASES = {"valid": "val", "validate": "val", "validation": "val"}
BOX_TOLERANCE = 1.0  # pixels
PHYSIONET_PREFIX = "ms-cxr-making-the-most-of-text-semantics"
_SUBJECT = re.compile(r"(?:^|/)p1\d/p(\d+)/s\d+/")


def find_mscxr_annotations(data_root: Path, version: str | None = None, fmt: str = "csv") -> Path:
    """The annotation file of `version` ('1.1.0' or '0.1'; None = newest found) in format 'csv' or 'json',
    looked for in DATA_ROOT/ms-cxr/, DATA_ROOT and PhysioNet download folders; a file path is returned as is."""
    data_root = Path(data_root)
    if data_root.is_file():
        return data_root
    if fmt not in ("csv", "json"):
        raise ValueError(f"unknown MS-CXR annotation format {fmt!r}; use 'csv' or 'json'")
    if version is None:
        versions = list(STEMS)
    else:
        key = VERSION_ALIASES.get(version.strip().lower().lstrip("v"))
        if key is None:
            raise ValueError(f"unknown MS-CXR version {version!r}; known: 1.1.0, 0.1 (files v1.0.0)")
        versions = [key]
    dirs = dataset_dirs(data_root, "ms-cxr", (PHYSIONET_PREFIX,))
    for v in versions:
        for folder in dirs:
            candidate = folder / f"{STEMS[v]}.{fmt}"
            if candidate.is_file():
                return candidate
    names = " or ".join(f"{STEMS[v]}.{fmt}" for v in versions)
    raise DatasetFormatError(f"no MS-CXR annotations ({names}) in: {', '.join(map(str, dirs)) or data_root}")


@dataclass
class _Group:
    dicom_id: str
    category: str
    phrase: str
    ordinal: int
    rows: list[BoxRow] = field(default_factory=list)
    boxes: list[Box] = field(default_factory=list)
    rejected: bool = False


def load_mscxr(
    annotations: Path, images_root: Path, split: str | None = None, check_images: bool = True
) -> tuple[list[GroundingSample], SkipReport]:
    """Samples in file order (optionally one split of v1.1.0) and the report of what was skipped."""
    annotations = Path(annotations)
    rows, has_split = read_box_rows(annotations)
    wanted = _check_split(split, has_split, annotations)
    skips = SkipReport(source=str(annotations))
    groups = _group_rows(rows, skips)
    image_records: dict[str, set] = {}
    for g in groups:
        if not g.rejected:
            image_records.setdefault(g.dicom_id, set()).update((r.path, _size(r)) for r in g.rows)
    base = files_parent(Path(images_root), "mimic-cxr-jpg")
    sizes: dict[str, tuple[int, int] | str] = {}
    samples = []
    for g in groups:
        split_values = {r.split for r in g.rows}
        if wanted is not None and wanted not in split_values:
            continue
        if g.rejected:
            if g.boxes:
                skips.add("phrase dropped: a box row was rejected", f"{g.dicom_id}/{g.ordinal} ({g.rows[0].where})")
            continue
        first = g.rows[0]
        if len({r.category for r in g.rows}) > 1:
            skips.add("phrase with conflicting categories", f"{g.dicom_id}/{g.ordinal} ({first.where})")
            continue
        if len(split_values) > 1:
            skips.add("phrase with conflicting split values", f"{first.where}: {sorted(map(str, split_values))}")
            continue
        if len(image_records[g.dicom_id]) > 1:
            skips.add("rows of one image disagree on path or size", f"{g.dicom_id} ({first.where})")
            continue
        ann_h, ann_w = _size(first)
        image_path = _image_path(base, first.path, check_images)
        disk = (ann_h, ann_w)
        if check_images:
            if str(image_path) not in sizes:
                sizes[str(image_path)] = _disk_size(image_path)
            disk = sizes[str(image_path)]
            if isinstance(disk, str):
                skips.add(disk, str(image_path))
                continue
        sx, sy = disk[1] / ann_w, disk[0] / ann_h
        boxes = tuple(b if (sx, sy) == (1.0, 1.0) else b.scaled(sx, sy) for b in g.boxes)
        subject = _SUBJECT.search(first.path)
        samples.append(GroundingSample(
            sample_id=f"{g.dicom_id}/{g.ordinal}", dicom_id=g.dicom_id, image_path=image_path, category=g.category,
            phrase=g.phrase, boxes=boxes, image_size=(int(disk[0]), int(disk[1])), split=first.split,
            subject_id=subject.group(1) if subject else None,
        ))
    return samples, skips


def _check_split(split: str | None, has_split: bool, annotations: Path) -> str | None:
    if split is None:
        return None
    if not has_split:
        raise DatasetFormatError(
            f"{annotations} has no split column: MS-CXR v0.1 has no split; use v1.1.0 or omit --split"
        )
    name = SPLIT_ALIASES.get(split.strip().lower(), split.strip().lower())
    if name not in SPLITS:
        raise ValueError(f"unknown MS-CXR split {split!r}; valid splits: {', '.join(SPLITS)}")
    return name


def _group_rows(rows: list[BoxRow], skips: SkipReport) -> list[_Group]:
    """Validate every box row and gather rows into (image, phrase) groups in file order."""
    groups: dict[tuple[str, str], _Group] = {}
    per_image: dict[str, int] = {}
    seen: set[tuple] = set()
    unreadable: set[tuple[str, str]] = set()  # (image, phrase) of rows that could not be read: masks incomplete
    for row in rows:
        if row.problem or not row.dicom_id or not row.phrase:
            skips.add(row.problem or ("empty phrase" if row.dicom_id else "row without dicom_id"), row.where)
            if row.problem and row.dicom_id and row.phrase:
                unreadable.add((row.dicom_id, row.phrase))
            continue
        if row.split is not None:
            row.split = SPLIT_ALIASES.get(row.split.lower(), row.split.lower())
        key = (row.dicom_id, row.phrase)
        if key not in groups:
            groups[key] = _Group(row.dicom_id, row.category, row.phrase, per_image.get(row.dicom_id, 0))
            per_image[row.dicom_id] = groups[key].ordinal + 1
        group = groups[key]
        group.rows.append(row)
        reason, box = _validate(row)
        if reason is not None:
            skips.add(reason, row.where)
            group.rejected = True
            continue
        identity = (key, row.category, box.x, box.y, box.w, box.h)
        if identity in seen:
            skips.add("duplicate row", row.where)
            group.rows.pop()
            continue
        seen.add(identity)
        group.boxes.append(box)
    for key in unreadable & groups.keys():
        groups[key].rejected = True
    return list(groups.values())


def _validate(row: BoxRow) -> tuple[str | None, Box | None]:
    """(reason to reject the row, None) or (None, the box clipped to the image)."""
    if row.category not in MS_CXR_CATEGORIES:
        return "unknown category", None
    if row.split is not None and row.split not in SPLITS:
        return "unknown split value", None
    values = [parse_number(v) for v in row.box]
    if None in values:
        return "non-numeric box", None
    size = _size(row)
    if size is None:
        return "missing or non-positive image size", None
    (height, width), (x, y, w, h) = size, values
    if w <= 0 or h <= 0:
        return "box of zero or negative size", None
    tol = BOX_TOLERANCE
    if x < -tol or y < -tol or x + w > width + tol or y + h > height + tol:
        return "box outside the image", None
    x0, y0, x1, y1 = max(x, 0.0), max(y, 0.0), min(x + w, float(width)), min(y + h, float(height))
    return None, Box(x0, y0, x1 - x0, y1 - y0)


def _size(row: BoxRow) -> tuple[float, float] | None:
    width, height = parse_number(row.width), parse_number(row.height)
    if width is None or height is None or width <= 0 or height <= 0:
        return None
    return height, width


def _image_path(base: Path, relative: str, check: bool) -> Path:
    path = base / relative.lstrip("/")
    if check and not path.is_file() and path.with_suffix(".dcm").is_file():
        return path.with_suffix(".dcm")  # the MIMIC-CXR DICOM tree instead of the JPG one
    return path


def _disk_size(path: Path) -> tuple[int, int] | str:
    if not path.is_file():
        return "missing image"
    try:
        return image_size(path)
    except ImageDecodeError as exc:
        return exc.reason  # e.g. truncated image, malformed DICOM header
