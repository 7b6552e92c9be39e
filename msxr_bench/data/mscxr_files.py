"""The two MS-CXR annotation files (CSV, one row per box; COCO-style JSON) read into the same box rows.
Validation and grouping into (image, phrase) samples live in `mscxr.py`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from msxr_bench.data.tables import read_csv_rows, row_shape_problem
from msxr_bench.data.types import DatasetFormatError

CSV_COLUMNS = ("dicom_id", "category_name", "label_text", "path", "x", "y", "w", "h", "image_width", "image_height")
JSON_KEYS = ("images", "annotations", "categories")
ANNOTATION_FIELDS = ("image_id", "category_id", "bbox", "label_text")


@dataclass
class BoxRow:
    """One box of one (image, category, phrase) as written in the file (values not yet validated)."""

    where: str  # "file line N" / "file annotations[i]"
    dicom_id: str
    path: str  # relative to the MIMIC-CXR-JPG root, normally "files/pNN/pSUBJECT/sSTUDY/<dicom_id>.jpg"
    category: str
    phrase: str
    box: tuple  # x, y, w, h as found
    width: object
    height: object
    split: str | None
    problem: str | None = None  # a reason found while reading (a short/long CSV row, an unknown image_id)


def read_box_rows(path: Path) -> tuple[list[BoxRow], bool]:
    """Rows in file order and whether the file has a split (v1.1.0)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetFormatError(f"MS-CXR annotation file not found: {path}")
    if path.suffix.lower() == ".json":
        return _json_rows(path)
    return _csv_rows(path)


def _csv_rows(path: Path) -> tuple[list[BoxRow], bool]:
    header, table = read_csv_rows(path, CSV_COLUMNS, "MS-CXR annotation CSV")
    has_split = "split" in header
    rows = []
    for row in table:
        r, shape = row.values, row_shape_problem(row, len(header))
        rows.append(BoxRow(
            where=f"{path.name} {shape[1] if shape else f'line {row.line}'}",
            dicom_id=r["dicom_id"].strip(),
            path=r["path"].strip(),
            category=r["category_name"].strip(),
            phrase=r["label_text"].strip(),
            box=(r["x"], r["y"], r["w"], r["h"]),
            width=r["image_width"],
            height=r["image_height"],
            split=r["split"].strip() if has_split else None,
            problem=shape[0] if shape else None,
        ))
    return rows, has_split


def _json_rows(path: Path) -> tuple[list[BoxRow], bool]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatasetFormatError(f"{path}: not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise DatasetFormatError(f"{path}: expected a COCO-style object with keys {', '.join(JSON_KEYS)}")
    for key in JSON_KEYS:
        if not isinstance(data.get(key), list):
            raise DatasetFormatError(f"{path}: COCO JSON lacks the list {key!r}")
    categories = {_key(_field(path, "categories", i, c, "id")): str(_field(path, "categories", i, c, "name")).strip()
                  for i, c in enumerate(data["categories"])}
    # image ids are not unique per physical image (1,120 records, 1,047 paths): resolve each id to its record
    images: dict[object, dict | None] = {}
    for i, image in enumerate(data["images"]):
        image_id = _key(_field(path, "images", i, image, "id"))
        if image_id not in images:
            images[image_id] = image
        elif images[image_id] is not None and _image_path(images[image_id]) != _image_path(image):
            images[image_id] = None  # one id, two different files: ambiguous
    has_split = any("split" in a for a in data["annotations"] if isinstance(a, dict)) or any(
        "split" in im for im in data["images"] if isinstance(im, dict))
    rows = []
    for i, ann in enumerate(data["annotations"]):
        for key in ANNOTATION_FIELDS:
            _field(path, "annotations", i, ann, key)
        image_id = _key(ann["image_id"])
        image = images.get(image_id, {})
        problem = None
        if image_id not in images:
            problem = "annotation refers to an unknown image_id"
        elif image is None:
            problem, image = "image_id names two different image files", {}
        bbox = ann["bbox"] if isinstance(ann["bbox"], list) and len(ann["bbox"]) == 4 else (None,) * 4
        image_path = _image_path(image)
        split = ann.get("split", image.get("split"))
        rows.append(BoxRow(
            where=f"{path.name} annotations[{i}]",
            dicom_id=Path(str(image.get("file_name") or image_path)).stem,
            path=image_path,
            category=categories.get(_key(ann["category_id"]), f"<unknown category_id {ann['category_id']!r}>"),
            phrase=str(ann["label_text"] or "").strip(),
            box=tuple(bbox),
            width=ann.get("width", image.get("width")),
            height=ann.get("height", image.get("height")),
            split=None if split is None else str(split).strip(),
            problem=problem,
        ))
    return rows, has_split


def _key(value: object) -> object:
    """An id usable as a dict key (JSON may hold a list or an object where an id should be)."""
    return value if isinstance(value, (int, float, str)) else repr(value)


def _image_path(image: dict) -> str:
    return str(image.get("path") or image.get("file_name") or "").strip()


def _field(path: Path, section: str, index: int, record: object, key: str):
    if not isinstance(record, dict) or key not in record:
        raise DatasetFormatError(f"{path}: {section}[{index}] lacks the field {key!r}")
    return record[key]
