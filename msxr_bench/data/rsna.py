"""RSNA Pneumonia Detection Challenge (Kaggle, stage 2) training labels -> one `RsnaSample` per image.

`stage_2_train_labels.csv` (or the `.csv.zip` torchxrayvision ships) has one row per box, one row with empty
box fields for a negative image; rows of one `patientId` (really an image id) are grouped wherever they sit.
Label = max Target; boxes = all Target-1 rows, xywh with top-left corner, in the 1024x1024 pixel grid.

Choices (bad rows are never guessed at):
- An image with an inconsistent row -- fewer or more fields than the header, Target not 0/1, a non-numeric
  box value, a negative row with box values, a positive row without them, a box of zero size, or a box more
  than 1 px outside 1024x1024 -- is skipped as a whole and counted by reason (its label or mask would be
  wrong); the example names the image and the offending row's file line. Boxes within 1 px are clipped.
- A missing image file (when `check_images`) is a counted skip. Images are `<patientId>.dcm`, or a PNG/JPEG
  conversion of the same stem; boxes stay in the 1024 frame whatever the file.
- The optional `stage_2_detailed_class_info.csv` must describe the same images with the same number of rows
  per id, one class per id, and `Lung Opacity` exactly on Target-1 images; otherwise DatasetFormatError
  (a mismatching class file is the wrong file, not a bad row).
Splits are built from `rsna_patient_ids` (all ids of the file, images present or not): see `splits.py`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

from msxr_bench.data.tables import (
    CsvRow, dataset_dirs, first_existing, parse_number, read_csv_rows, read_table, row_shape_problem,
)
from msxr_bench.data.types import Box, DatasetFormatError, RsnaSample, SkipReport

LABEL_COLUMNS = ("patientId", "x", "y", "width", "height", "Target")
CLASS_COLUMNS = ("patientId", "class")
DETAILED_CLASSES = ("Lung Opacity", "No Lung Opacity / Not Normal", "Normal")
IMAGE_SIZE = 1024
BOX_TOLERANCE = 1.0
IMAGE_SUFFIXES = (".dcm", ".png", ".jpg", ".jpeg")  # preference order
LABEL_NAMES = ("stage_2_train_labels.csv", "stage_2_train_labels.csv.zip", "kaggle_stage_2_train_labels.csv.zip")


class RsnaFiles(NamedTuple):
    labels: Path
    images_dir: Path
    class_info: Path | None


def find_rsna_files(data_root: Path) -> RsnaFiles:
    """Locate the labels file, the training image folder and (optional) class info under `data_root`:
    DATA_ROOT/rsna-pneumonia/, DATA_ROOT itself, or a Kaggle folder `rsna-pneumonia-detection-challenge*`."""
    dirs = dataset_dirs(Path(data_root), "rsna-pneumonia", ("rsna-pneumonia-detection-challenge",))
    for folder in dirs:
        labels = first_existing(folder / name for name in LABEL_NAMES)
        if labels is not None:
            class_info = first_existing([folder / "stage_2_detailed_class_info.csv"])
            return RsnaFiles(labels, folder / "stage_2_train_images", class_info)
    searched = ", ".join(str(d) for d in dirs) or str(data_root)
    raise DatasetFormatError(f"no RSNA labels file ({' or '.join(LABEL_NAMES)}) found in: {searched}")


def rsna_patient_ids(labels_csv: Path) -> list[str]:
    """Every distinct patientId of the labels file, in file order (the input of `splits.rsna_split`)."""
    _, table = read_csv_rows(labels_csv, ("patientId",), "RSNA labels file")
    return list(dict.fromkeys(r.values["patientId"].strip() for r in table if r.values["patientId"].strip()))


def load_rsna(
    labels_csv: Path, images_dir: Path, class_info_csv: Path | None = None, check_images: bool = True
) -> tuple[list[RsnaSample], SkipReport]:
    """One sample per image in first-appearance order, and the report of skipped images."""
    labels_csv, images_dir = Path(labels_csv), Path(images_dir)
    header, table = read_csv_rows(labels_csv, LABEL_COLUMNS, "RSNA labels file")
    skips = SkipReport(source=str(labels_csv))
    rows: dict[str, list[CsvRow]] = {}
    for row in table:
        pid = row.values["patientId"].strip()
        if not pid:
            skips.add("row without patientId", f"line {row.line}")
            continue
        rows.setdefault(pid, []).append(row)

    classes = _read_class_info(Path(class_info_csv), rows) if class_info_csv is not None else {}
    files = _image_files(images_dir) if check_images else {}
    samples = []
    for pid, id_rows in rows.items():
        parsed = _parse_image_rows(id_rows, len(header))
        if isinstance(parsed[0], str):
            skips.add(parsed[0], f"{pid} ({parsed[1]})")
            continue
        label, boxes = parsed
        if pid in classes and (classes[pid] == "Lung Opacity") != bool(label):
            raise DatasetFormatError(
                f"{class_info_csv}: patientId {pid} has class {classes[pid]!r} but Target {label} in {labels_csv}"
            )
        if check_images:
            path = files.get(pid)
            if path is None:
                skips.add("missing image", str(images_dir / f"{pid}.dcm"))
                continue
        else:
            path = images_dir / f"{pid}.dcm"
        samples.append(RsnaSample(pid, path, label, tuple(boxes), classes.get(pid)))
    return samples, skips


def _parse_image_rows(id_rows: list[CsvRow], n_columns: int) -> tuple[int, list[Box]] | tuple[str, str]:
    """(label, boxes) of one image, or (the reason it must be skipped, where: the offending row's line)."""
    targets, boxes = set(), []
    for row in id_rows:
        shape = row_shape_problem(row, n_columns)
        if shape is not None:
            return shape
        problem = _parse_row(row.values, boxes, targets)
        if problem is not None:
            return problem, f"line {row.line}"
    if len(targets) > 1:
        return "conflicting Target 0 and 1 rows", ", ".join(f"line {r.line}" for r in id_rows)
    return targets.pop(), boxes


def _parse_row(record: dict[str, str], boxes: list[Box], targets: set[int]) -> str | None:
    """Adds the row's box and Target; returns the reason the row is wrong instead, if it is."""
    target = parse_number(record["Target"])
    if target not in (0.0, 1.0):
        return "Target not 0/1"
    fields = [record[k].strip() for k in ("x", "y", "width", "height")]
    values = [parse_number(v) for v in fields]
    if target == 0.0:
        if any(fields):
            return "negative row with box values"
    elif not any(fields):
        return "positive row without box"
    elif None in values:
        return "non-numeric box value"
    else:
        x, y, w, h = values
        if w <= 0 or h <= 0:
            return "box of zero or negative size"
        if x < -BOX_TOLERANCE or y < -BOX_TOLERANCE or x + w > IMAGE_SIZE + BOX_TOLERANCE or (
            y + h > IMAGE_SIZE + BOX_TOLERANCE
        ):
            return "box outside the 1024x1024 image"
        x0, y0 = max(x, 0.0), max(y, 0.0)
        x1, y1 = min(x + w, float(IMAGE_SIZE)), min(y + h, float(IMAGE_SIZE))
        boxes.append(Box(x0, y0, x1 - x0, y1 - y0))
    targets.add(int(target))
    return None


def _image_files(images_dir: Path) -> dict[str, Path]:
    """patientId -> image file, from one directory listing (DICOM preferred over PNG/JPEG conversions)."""
    if not images_dir.is_dir():
        raise DatasetFormatError(f"RSNA image folder not found: {images_dir}")
    found: dict[str, Path] = {}
    rank = {suffix: i for i, suffix in enumerate(IMAGE_SUFFIXES)}
    with os.scandir(images_dir) as entries:
        for entry in entries:
            stem, suffix = os.path.splitext(entry.name)
            suffix = suffix.lower()
            if suffix in rank and entry.is_file():
                current = found.get(stem)
                if current is None or rank[suffix] < rank[current.suffix.lower()]:
                    found[stem] = Path(entry.path)
    return found


def _read_class_info(path: Path, rows: dict[str, list]) -> dict[str, str]:
    """patientId -> detailed class, after checking it describes exactly the images of the labels file."""
    table = read_table(path, CLASS_COLUMNS, "RSNA class info file")
    per_id: dict[str, list[str]] = {}
    for i, (pid, cls) in enumerate(zip(table["patientId"].tolist(), table["class"].tolist())):
        cls = cls.strip()
        if cls not in DETAILED_CLASSES:
            raise DatasetFormatError(f"{path} row {i + 2}: unknown class {cls!r} (known: {', '.join(DETAILED_CLASSES)})")
        per_id.setdefault(pid.strip(), []).append(cls)
    extra = [pid for pid in per_id if pid not in rows]
    absent = [pid for pid in rows if pid not in per_id]
    if extra or absent:
        raise DatasetFormatError(
            f"{path}: class info and labels describe different images ({len(absent)} labelled ids missing, "
            f"e.g. {absent[:3]}; {len(extra)} unknown ids, e.g. {extra[:3]})"
        )
    for pid, cls in per_id.items():
        if len(cls) != len(rows[pid]):
            raise DatasetFormatError(
                f"{path}: patientId {pid} has {len(cls)} class rows but {len(rows[pid])} label rows"
            )
        if len(set(cls)) != 1:
            raise DatasetFormatError(f"{path}: patientId {pid} has several classes {sorted(set(cls))}")
    return {pid: cls[0] for pid, cls in per_id.items()}
