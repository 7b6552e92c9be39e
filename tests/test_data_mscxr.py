"""mscxr.load_mscxr on hand-written v0.1 / v1.1.0 CSV and COCO JSON files, and every bad-input case."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from msxr_bench.data.mscxr import find_mscxr_annotations, load_mscxr
from msxr_bench.data.types import Box, DatasetFormatError

D1 = "675d792f-a3521e48-5eec8573-1e81d644-e60c34f8"
D2 = "02aa804e-bde0afdd-112c0b34-7bc16630-4e384014"
P1 = f"files/p10/p10233088/s54276838/{D1}.jpg"
P2 = f"files/p12/p12000032/s50414267/{D2}.jpg"
COLUMNS = ["dicom_id", "category_name", "label_text", "path", "x", "y", "w", "h", "image_width", "image_height"]
PHRASE_B = "small left effusion, likely"
# one row per box: D1 has a 2-box phrase and a second phrase; D2 is 60x40 (landscape)
ROWS = [
    [D1, "Pneumonia", "right lower lobe pneumonia", P1, 2, 10, 8, 12, 40, 60, "train"],
    [D1, "Pneumonia", "right lower lobe pneumonia", P1, 20, 30, 10, 20, 40, 60, "train"],
    [D1, "Pleural Effusion", PHRASE_B, P1, 25, 40, 14, 20, 40, 60, "train"],
    [D2, "Cardiomegaly", "Cardiomegaly", P2, 10, 5, 30, 30, 60, 40, "test"],
]


def write_csv(path: Path, rows=ROWS, split=True, columns=COLUMNS) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(columns + (["split"] if split else []))
        for r in rows:
            w.writerow([str(v) for v in (r if split else r[: len(columns)])])
    return path


def write_images(root: Path, scale: float = 1.0) -> Path:
    for rel, (h, w) in ((P1, (60, 40)), (P2, (40, 60))):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.zeros((int(h * scale), int(w * scale)), np.uint8)).save(path)
    return root


def coco(rows=ROWS, duplicate_image_record=True) -> dict:
    cats = sorted({r[1] for r in rows})
    images, annotations = [], []
    for r in rows:
        if not any(im["path"] == r[3] for im in images):
            images.append({"id": len(images), "file_name": f"{r[0]}.jpg", "path": r[3], "width": r[8], "height": r[9]})
    if duplicate_image_record:  # the real 1.1.0 JSON has 1,120 image records for 1,047 paths
        images.append(dict(images[0], id=99))
    for i, r in enumerate(rows):
        image_id = 99 if (duplicate_image_record and r[2] == PHRASE_B) else next(im["id"] for im in images if im["path"] == r[3])
        annotations.append({"id": i, "image_id": image_id, "category_id": cats.index(r[1]) + 1,
                            "bbox": [float(v) for v in r[4:8]], "label_text": r[2], "width": r[8], "height": r[9],
                            "split": r[10]})
    return {"images": images, "annotations": annotations,
            "categories": [{"id": i + 1, "name": c} for i, c in enumerate(cats)]}


def test_csv_v110_samples(tmp_path):
    root = write_images(tmp_path / "jpg")
    samples, skips = load_mscxr(write_csv(tmp_path / "a.csv"), root)
    assert skips.total == 0
    assert [s.sample_id for s in samples] == [f"{D1}/0", f"{D1}/1", f"{D2}/0"]
    first = samples[0]
    assert first.boxes == (Box(2, 10, 8, 12), Box(20, 30, 10, 20)) and first.category == "Pneumonia"
    assert first.image_path == root / P1 and first.image_size == (60, 40)
    assert first.subject_id == "10233088" and first.split == "train"
    assert samples[1].phrase == PHRASE_B and samples[2].image_size == (40, 60) and samples[2].split == "test"


def test_boxes_are_rescaled_to_the_image_on_disk(tmp_path):
    root = write_images(tmp_path / "jpg", scale=0.5)
    samples, _ = load_mscxr(write_csv(tmp_path / "a.csv"), root)
    assert samples[0].image_size == (30, 20)
    assert samples[0].boxes == (Box(1, 5, 4, 6), Box(10, 15, 5, 10))


@pytest.mark.parametrize("layout", ["above_files", "files", "data_root", "physionet_version"])
def test_images_root_variants(tmp_path, layout):
    base = {"above_files": tmp_path / "jpg", "files": tmp_path / "jpg", "data_root": tmp_path / "mimic-cxr-jpg",
            "physionet_version": tmp_path / "mimic-cxr-jpg" / "2.0.0"}[layout]
    write_images(base)
    root = {"above_files": base, "files": base / "files", "data_root": tmp_path,
            "physionet_version": tmp_path / "mimic-cxr-jpg"}[layout]
    samples, skips = load_mscxr(write_csv(tmp_path / "a.csv"), root)
    assert skips.total == 0 and samples[0].image_path == base / P1


def test_json_gives_the_same_samples_as_csv(tmp_path):
    root = write_images(tmp_path / "jpg")
    (tmp_path / "a.json").write_text(json.dumps(coco()))
    from_json, skips = load_mscxr(tmp_path / "a.json", root)
    from_csv, _ = load_mscxr(write_csv(tmp_path / "a.csv"), root)
    assert skips.total == 0 and from_json == from_csv


def test_split_selection_and_aliases(tmp_path):
    ann = write_csv(tmp_path / "a.csv")
    test, _ = load_mscxr(ann, tmp_path, split="test", check_images=False)
    assert [s.sample_id for s in test] == [f"{D2}/0"]
    assert load_mscxr(ann, tmp_path, split="validate", check_images=False)[0] == []
    with pytest.raises(ValueError, match="valid splits: train, val, test"):
        load_mscxr(ann, tmp_path, split="dev", check_images=False)


def test_v01_has_no_split(tmp_path):
    ann = write_csv(tmp_path / "MS_CXR_Local_Alignment_v1.0.0.csv", split=False)
    samples, _ = load_mscxr(ann, tmp_path, check_images=False)
    assert len(samples) == 3 and samples[0].split is None and samples[0].image_size == (60, 40)
    with pytest.raises(DatasetFormatError, match="v0.1 has no split; use v1.1.0 or omit --split"):
        load_mscxr(ann, tmp_path, split="test", check_images=False)


@pytest.mark.parametrize("field, value, reason", [
    (4, "abc", "non-numeric box"),
    (6, "", "non-numeric box"),
    (6, "0", "box of zero or negative size"),
    (5, "45", "box outside the image"),  # y + h = 45 + 20 > 60 + 1
    (4, "-3", "box outside the image"),
    (1, "pneumonia", "unknown category"),
    (8, "x", "missing or non-positive image size"),
    (10, "holdout", "unknown split value"),
])
def test_bad_box_row_drops_its_phrase_with_reasons(tmp_path, field, value, reason):
    rows = [list(r) for r in ROWS]
    rows[1][field] = value
    samples, skips = load_mscxr(write_csv(tmp_path / "a.csv", rows), tmp_path, check_images=False)
    assert [s.sample_id for s in samples] == [f"{D1}/1", f"{D2}/0"]
    assert skips.counts[reason] == 1 and skips.examples[reason] == ["a.csv line 3"]
    assert skips.counts["phrase dropped: a box row was rejected"] == (reason != "empty phrase")


def test_empty_phrase_row_is_counted(tmp_path):
    rows = [list(r) for r in ROWS]
    rows[2][2] = "  "
    samples, skips = load_mscxr(write_csv(tmp_path / "a.csv", rows), tmp_path, check_images=False)
    assert [s.sample_id for s in samples] == [f"{D1}/0", f"{D2}/0"]
    assert dict(skips.counts) == {"empty phrase": 1} and skips.examples["empty phrase"] == ["a.csv line 4"]


def test_phrase_under_two_categories_is_dropped(tmp_path):
    rows = [list(r) for r in ROWS] + [[D1, "Consolidation", "right lower lobe pneumonia", P1, 1, 1, 5, 5, 40, 60, "train"]]
    samples, skips = load_mscxr(write_csv(tmp_path / "a.csv", rows), tmp_path, check_images=False)
    assert [s.sample_id for s in samples] == [f"{D1}/1", f"{D2}/0"]
    assert dict(skips.counts) == {"phrase with conflicting categories": 1}


def test_box_within_a_pixel_is_clipped(tmp_path):
    rows = [list(r) for r in ROWS]
    rows[3][4:8] = [-0.5, 5, 61, 30]
    samples, skips = load_mscxr(write_csv(tmp_path / "a.csv", rows), tmp_path, check_images=False)
    assert skips.total == 0 and samples[2].boxes == (Box(0.0, 5.0, 60.0, 30.0),)


def test_duplicate_row_is_counted_and_sample_kept(tmp_path):
    rows = [list(r) for r in ROWS] + [list(ROWS[0])]
    samples, skips = load_mscxr(write_csv(tmp_path / "a.csv", rows), tmp_path, check_images=False)
    assert dict(skips.counts) == {"duplicate row": 1} and len(samples[0].boxes) == 2


def test_missing_image_is_counted_with_its_path(tmp_path):
    root = write_images(tmp_path / "jpg")
    (root / P2).unlink()
    samples, skips = load_mscxr(write_csv(tmp_path / "a.csv"), root)
    assert len(samples) == 2 and dict(skips.counts) == {"missing image": 1}
    assert skips.examples["missing image"] == [str(root / P2)]


def test_conflicting_image_records_and_splits_are_skipped(tmp_path):
    rows = [list(r) for r in ROWS]
    rows[2][8] = 41  # same image, other width
    rows[1][10] = "val"  # one phrase, two splits
    samples, skips = load_mscxr(write_csv(tmp_path / "a.csv", rows), tmp_path, check_images=False)
    assert [s.dicom_id for s in samples] == [D2]
    assert skips.counts["phrase with conflicting split values"] == 1
    assert skips.counts["rows of one image disagree on path or size"] == 1


def test_missing_file_and_column_name_them(tmp_path):
    with pytest.raises(DatasetFormatError, match="not found.*nope.csv"):
        load_mscxr(tmp_path / "nope.csv", tmp_path)
    ann = write_csv(tmp_path / "a.csv", [r[:5] + r[6:] for r in ROWS], columns=[c for c in COLUMNS if c != "w"])
    with pytest.raises(DatasetFormatError, match=r"a\.csv.*'w'"):
        load_mscxr(ann, tmp_path)


def test_json_structure_errors_name_the_field(tmp_path):
    data = coco()
    del data["annotations"][2]["bbox"]
    (tmp_path / "a.json").write_text(json.dumps(data))
    with pytest.raises(DatasetFormatError, match=r"annotations\[2\] lacks the field 'bbox'"):
        load_mscxr(tmp_path / "a.json", tmp_path)
    (tmp_path / "b.json").write_text(json.dumps({"images": [], "annotations": []}))
    with pytest.raises(DatasetFormatError, match=r"b\.json.*'categories'"):
        load_mscxr(tmp_path / "b.json", tmp_path)
    (tmp_path / "c.json").write_text("{not json")
    with pytest.raises(DatasetFormatError, match=r"c\.json: not valid JSON"):
        load_mscxr(tmp_path / "c.json", tmp_path)


def test_json_unknown_ids_are_counted(tmp_path):
    data = coco(duplicate_image_record=False)
    data["annotations"][3]["image_id"] = 1234
    data["annotations"][2]["category_id"] = [7]
    (tmp_path / "a.json").write_text(json.dumps(data))
    samples, skips = load_mscxr(tmp_path / "a.json", tmp_path, check_images=False)
    assert [s.sample_id for s in samples] == [f"{D1}/0"]
    assert skips.counts["annotation refers to an unknown image_id"] == 1 and skips.counts["unknown category"] == 1


def test_find_annotations(tmp_path):
    physionet = tmp_path / "ms-cxr-making-the-most-of-text-semantics-to-improve-biomedical-vision-language-processing-0.1"
    physionet.mkdir()
    old = write_csv(physionet / "MS_CXR_Local_Alignment_v1.0.0.csv", split=False)
    assert find_mscxr_annotations(tmp_path) == old
    (tmp_path / "ms-cxr").mkdir()
    new = write_csv(tmp_path / "ms-cxr" / "MS_CXR_Local_Alignment_v1.1.0.csv")
    (tmp_path / "ms-cxr" / "MS_CXR_Local_Alignment_v1.1.0.json").write_text("{}")
    assert find_mscxr_annotations(tmp_path) == new
    assert find_mscxr_annotations(tmp_path, "0.1") == old == find_mscxr_annotations(tmp_path, "v1.0.0")
    assert find_mscxr_annotations(tmp_path, "1.1.0", fmt="json").suffix == ".json"
    assert find_mscxr_annotations(new) == new
    with pytest.raises(DatasetFormatError, match="MS_CXR_Local_Alignment_v1.0.0.json"):
        find_mscxr_annotations(tmp_path, "0.1", fmt="json")
    with pytest.raises(ValueError, match="known: 1.1.0, 0.1"):
        find_mscxr_annotations(tmp_path, "2.0")
