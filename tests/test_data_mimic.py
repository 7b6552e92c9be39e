"""mimic.load_mimic_pairs on a miniature MIMIC-CXR-JPG + reports tree in the real layout."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from msxr_bench.data.mimic import find_mimic_roots, load_mimic_pairs
from msxr_bench.data.types import DatasetFormatError

META_HEADER = ("dicom_id,subject_id,study_id,PerformedProcedureStepDescription,ViewPosition,Rows,Columns,StudyDate,"
               "StudyTime,ProcedureCodeSequence_CodeMeaning,ViewCodeSequence_CodeMeaning,"
               "PatientOrientationCodeSequence_CodeMeaning")
# dicom_id, subject, study, split, view
IMAGES = [
    ("02aa804e-bde0afdd-112c0b34-7bc16630-4e384014", "10000032", "50414267", "train", "PA"),
    ("174413ec-4ec4c1f7-34ea26b7-c5f994f8-79ef1962", "10000032", "50414267", "train", "LATERAL"),
    ("2a2277a9-b0ded155-c0de8eb9-c124d10e-82c5caab", "10000032", "53189527", "train", "AP"),
    ("68b5c4b1-227d0485-9cc38c3f-7b84ab51-4b472714", "10000032", "53911762", "train", ""),
    ("fffabebf-74fd3a1f-673b6b41-96ec0ac9-2ab69818", "10000764", "57375967", "validate", "AP"),
    ("ea030e7a-2e3b1346-bc518786-7a8fd698-f673b44c", "11000011", "58888888", "test", "PA"),
]
REPORT = (" FINAL REPORT\n EXAMINATION:  CHEST (PA AND LAT)\n \n FINDINGS: \n \n Large left pleural effusion.\n"
          " \n IMPRESSION: \n \n Left effusion.\n")
NO_IMPRESSION = " FINAL REPORT\n FINDINGS:  Lungs are clear.\n"


def write_gz(path: Path, text: str) -> None:
    with gzip.open(path, "wt") as f:
        f.write(text)


def build(root: Path, reports=None) -> tuple[Path, Path]:
    jpg, rep = root / "mimic-cxr-jpg", root / "mimic-cxr-reports"
    jpg.mkdir(parents=True)
    write_gz(jpg / "mimic-cxr-2.0.0-split.csv.gz",
             "dicom_id,study_id,subject_id,split\n" + "".join(f"{d},{st},{s},{sp}\n" for d, s, st, sp, _ in IMAGES))
    write_gz(jpg / "mimic-cxr-2.0.0-metadata.csv.gz", META_HEADER + "\n" + "".join(
        f"{d},{s},{st},CHEST (PA AND LAT),{v},8,6,21800506,213014.531,CHEST (PA AND LAT),postero-anterior,Erect\n"
        for d, s, st, _, v in IMAGES))
    for d, s, st, _, _ in IMAGES:
        image = jpg / "files" / f"p{s[:2]}" / f"p{s}" / f"s{st}" / f"{d}.jpg"
        image.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.zeros((8, 6), np.uint8)).save(image)
    reports = reports or {"50414267": REPORT, "53189527": NO_IMPRESSION, "53911762": REPORT,
                          "57375967": REPORT, "58888888": REPORT}
    for d, s, st, _, _ in IMAGES:
        if st in reports:
            txt = rep / "files" / f"p{s[:2]}" / f"p{s}" / f"s{st}.txt"
            txt.parent.mkdir(parents=True, exist_ok=True)
            txt.write_text(reports[st])
    return jpg, rep


def test_train_frontal_pairs_with_impression(tmp_path):
    jpg, rep = build(tmp_path)
    pairs, skips = load_mimic_pairs(jpg, rep)
    assert [(p.dicom_id[:8], p.study_id, p.subject_id, p.view, p.split) for p in pairs] == [
        ("02aa804e", "50414267", "10000032", "PA", "train")]
    assert pairs[0].image_path == jpg / "files/p10/p10000032/s50414267/02aa804e-bde0afdd-112c0b34-7bc16630-4e384014.jpg"
    assert pairs[0].sections["impression"] == "Left effusion."
    assert pairs[0].sections["findings"] == "Large left pleural effusion."
    assert dict(skips.counts) == {"not a frontal view": 1, "missing ViewPosition": 1, "report without impression": 1}


def test_other_sections_and_all_views(tmp_path):
    jpg, rep = build(tmp_path)
    pairs, skips = load_mimic_pairs(jpg, rep, section="impression|findings", frontal_only=False)
    assert len(pairs) == 4 and skips.total == 0
    assert [p.view for p in pairs] == ["PA", "LATERAL", "AP", None]


def test_val_alias_and_all_splits(tmp_path):
    jpg, rep = build(tmp_path)
    val, _ = load_mimic_pairs(jpg, rep, split="val")
    assert [(p.study_id, p.split) for p in val] == [("57375967", "validate")]
    everything, _ = load_mimic_pairs(jpg, rep, split=None, section="conclusion")
    assert [p.split for p in everything] == ["train", "train", "validate", "test"]
    with pytest.raises(ValueError, match="valid splits: train, validate, test"):
        load_mimic_pairs(jpg, rep, split="dev")


def test_missing_image_report_and_metadata_are_counted(tmp_path):
    jpg, rep = build(tmp_path, reports={"50414267": REPORT})
    (jpg / "files/p10/p10000032/s53189527/2a2277a9-b0ded155-c0de8eb9-c124d10e-82c5caab.jpg").unlink()
    pairs, skips = load_mimic_pairs(jpg, rep, split=None)
    assert skips.counts["missing image"] == 1 and skips.counts["missing report"] == 2
    assert skips.examples["missing report"][0].endswith("files/p10/p10000764/s57375967.txt")
    assert len(pairs) == 1
    meta = jpg / "mimic-cxr-2.0.0-metadata.csv.gz"
    lines = gzip.open(meta, "rt").read().splitlines()
    write_gz(meta, "\n".join(lines[:-1]) + "\n")
    _, skips = load_mimic_pairs(jpg, rep, split="test", check_images=False)
    assert dict(skips.counts) == {"no metadata row": 1}


def test_roots_given_as_files_folders_and_data_root(tmp_path):
    jpg, rep = build(tmp_path)
    a, _ = load_mimic_pairs(jpg, rep)
    b, _ = load_mimic_pairs(jpg / "files", rep / "files")
    c, _ = load_mimic_pairs(tmp_path, tmp_path)
    assert a == b == c and len(a) == 1
    assert find_mimic_roots(tmp_path) == (jpg, rep)


def test_missing_tables_and_columns_are_clear_errors(tmp_path):
    jpg, rep = build(tmp_path)
    with pytest.raises(DatasetFormatError, match="reports folder not found"):
        load_mimic_pairs(jpg, tmp_path / "nothing")
    write_gz(jpg / "mimic-cxr-2.0.0-metadata.csv.gz", "dicom_id,subject_id,study_id\n")
    with pytest.raises(DatasetFormatError, match=r"metadata.csv.gz.*'ViewPosition'"):
        load_mimic_pairs(jpg, rep)
    (jpg / "mimic-cxr-2.0.0-split.csv.gz").unlink()
    with pytest.raises(DatasetFormatError, match="mimic-cxr-2.0.0-split.csv"):
        load_mimic_pairs(jpg, rep)
    with pytest.raises(DatasetFormatError, match="no MIMIC-CXR-JPG release"):
        find_mimic_roots(tmp_path)
