"""MedRPG's MS-CXR split files (`data/MS_CXR/MS_CXR_{train,val,test}.pth` in eraserNut/MedRPG) -> a plain CSV of
dicom ids for the `split-file:PATH` protocol.

Each file is a pickled list of tuples (anno_id, image_id, category_id, img_file, bbox, width, height, phrase), one
per box (`datasets/data_loader.py`, `pull_item` for MS_CXR); img_file is "files/pNN/pSUBJECT/sSTUDY/<dicom_id>.jpg".
It is read with the restricted unpickler of `adapters/gloria_unpickle.py` (no global outside its allow-list is
ever loaded). The phrases are dataset text: the CSV keeps only the dicom ids, one per image, in file order.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from msxr_bench.adapters.gloria_unpickle import load_restricted
from msxr_bench.data.types import DatasetFormatError

ENTRY_FIELDS = 8  # anno_id, image_id, category_id, img_file, bbox, width, height, phrase


def medrpg_dicom_ids(path: Path) -> list[str]:
    """The dicom ids of a MedRPG split file, unique, in file order (DatasetFormatError naming a bad entry)."""
    path = Path(path)
    entries = load_restricted(path)
    if not isinstance(entries, list):
        raise DatasetFormatError(f"{path}: expected MedRPG's list of annotation tuples, got {type(entries).__name__}")
    ids: dict[str, None] = {}
    for i, entry in enumerate(entries):
        if not isinstance(entry, (tuple, list)) or len(entry) != ENTRY_FIELDS or not isinstance(entry[3], str):
            raise DatasetFormatError(f"{path}: entry {i} is not MedRPG's (anno_id, image_id, category_id, img_file, "
                                     "bbox, width, height, phrase)")
        ids[Path(entry[3]).stem] = None
    if not ids:
        raise DatasetFormatError(f"{path}: no entries")
    return list(ids)


def split_csv_text(ids: list[str], column: str = "dicom_id") -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([column])
    writer.writerows([i] for i in ids)
    return buf.getvalue()


def convert_medrpg_split(source: Path, out: Path) -> list[str]:
    """Write `out` (a `dicom_id` CSV) from MedRPG's `source` .pth; returns the ids."""
    ids = medrpg_dicom_ids(source)
    Path(out).write_text(split_csv_text(ids))
    return ids
