"""data.mscxr_t on hand-written files in the release layout: one sample per labelled (row, finding), bare and
path-like dicom ids, clear errors for a missing file or column, counted skips naming the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from msxr_bench.data.mscxr_t import (
    FINDINGS, IMAGE_COLUMNS, IMAGE_FILE, SENTENCE_FILE, find_mscxrt_file, load_progression, load_sentence_pairs,
)
from msxr_bench.data.types import DatasetFormatError

D1, D0 = "aaaaaaaa-11111111-22222222-33333333-44444444", "bbbbbbbb-11111111-22222222-33333333-44444444"
D2, D3 = "cccccccc-11111111-22222222-33333333-44444444", "dddddddd-11111111-22222222-33333333-44444444"


def _row(subject="10000001", study="50000002", dicom=D1, prev_study="50000001", prev=D0, **labels) -> dict:
    row = {"subject_id": subject, "study_id": study, "dicom_id": dicom, "previous_study_id": prev_study,
           "previous_dicom_id": prev}
    for f in FINDINGS:
        row[f"{f}_progression"], row[f"{f}_label_quality"] = labels.get(f, ("", ""))
    return row


def _write(path: Path, rows: list[dict], columns=IMAGE_COLUMNS) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [",".join(columns)] + [",".join(str(r.get(c, "")) for c in columns) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def _image(root: Path, subject: str, study: str, dicom: str) -> None:
    p = root / "mimic-cxr-jpg" / "files" / f"p{subject[:2]}" / f"p{subject}" / f"s{study}" / f"{dicom}.jpg"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(b"not decoded by the loader")


def test_one_sample_per_labelled_finding_with_bare_or_path_like_ids(tmp_path: Path) -> None:
    for study, dicom in (("50000001", D0), ("50000002", D1), ("50000003", D2)):
        _image(tmp_path, "10000001", study, dicom)
    csv = _write(tmp_path / "ms-cxr-t" / IMAGE_FILE, [
        _row(edema=("worsening", "one_expert"), pneumothorax=("Stable", "multiple_experts")),
        _row(study="50000003", dicom=f"p10/p10000001/s50000003/{D2}", prev_study="50000002.0",
             prev=f"files/p10/p10000001/s50000002/{D1}.jpg", pleural_effusion=("improving", "")),
    ])
    assert find_mscxrt_file(tmp_path, IMAGE_FILE) == csv
    samples, skips = load_progression(csv, tmp_path)
    assert skips.total == 0, skips.summary()
    assert [(s.sample_id, s.label, s.label_quality, s.line) for s in samples] == [
        (f"{D1}/edema", "worsening", "one_expert", 2), (f"{D1}/pneumothorax", "stable", "multiple_experts", 2),
        (f"{D2}/pleural_effusion", "improving", "", 3)]
    last = samples[-1]
    assert (last.dicom_id, last.previous_dicom_id, last.previous_study_id) == (D2, D1, "50000002")
    assert last.image_path == tmp_path / "mimic-cxr-jpg/files/p10/p10000001/s50000003" / f"{D2}.jpg"
    assert last.previous_image_path == tmp_path / "mimic-cxr-jpg/files/p10/p10000001/s50000002" / f"{D1}.jpg"


def test_bad_rows_are_counted_skips_naming_the_line(tmp_path: Path) -> None:
    _image(tmp_path, "10000001", "50000001", D0)
    _image(tmp_path, "10000001", "50000002", D1)
    csv = _write(tmp_path / IMAGE_FILE, [
        _row(edema=("worse", "x"), consolidation=("stable", "x")),  # line 2: one bad value, one good
        _row(prev="", edema=("stable", "x")),  # 3: no prior
        _row(dicom=f"p10/p10000001/s59999999/{D1}", edema=("stable", "x")),  # 4: path vs study id
        _row(subject="abc", edema=("stable", "x")),  # 5
        _row(),  # 6: nothing labelled
        _row(dicom=D2, edema=("stable", "x")),  # 7: image missing
        _row(prev=D3, edema=("stable", "x")),  # 8: prior image missing
        _row(consolidation=("improving", "x")),  # 9: same (image, finding) as line 2
    ])
    samples, skips = load_progression(csv, tmp_path)
    assert [s.sample_id for s in samples] == [f"{D1}/consolidation"]
    assert dict(skips.counts) == {
        "unknown progression value": 1, "missing prior": 1, "dicom_id path disagrees with subject_id/study_id": 1,
        "malformed id": 1, "row without any progression label": 1, "missing image": 1, "missing prior image": 1,
        "duplicate (image, finding)": 1}
    assert skips.examples["unknown progression value"] == [f"{IMAGE_FILE} line 2 edema_progression: 'worse'"]
    assert skips.examples["missing prior"][0].startswith(f"{IMAGE_FILE} line 3")
    assert skips.examples["missing image"][0].startswith(f"{IMAGE_FILE} line 7")
    without_disk, _ = load_progression(csv, tmp_path, check_images=False)
    assert len(without_disk) == 3  # lines 2, 7 and 8 (nothing on disk is looked at)


def test_missing_file_or_column_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(DatasetFormatError, match="no MS-CXR-T file MS_CXR_T_temporal_image_classification"):
        find_mscxrt_file(tmp_path, IMAGE_FILE)
    csv = _write(tmp_path / IMAGE_FILE, [_row(edema=("stable", ""))],
                 [c for c in IMAGE_COLUMNS if c != "edema_label_quality"])
    with pytest.raises(DatasetFormatError, match=r"lacks column\(s\) 'edema_label_quality'"):
        load_progression(csv, tmp_path)
    sentences = tmp_path / SENTENCE_FILE
    sentences.write_text("sentence_1,category\na,paraphrase\n")
    with pytest.raises(DatasetFormatError, match="'sentence_2'"):
        load_sentence_pairs(sentences)


def test_sentence_pairs_keep_row_numbers_as_ids(tmp_path: Path) -> None:
    csv = tmp_path / "physionet" / "ms-cxr-t-learning-1.0.0" / SENTENCE_FILE
    csv.parent.mkdir(parents=True)
    csv.write_text('subset_name,sentence_1,sentence_2,category\n'
                   'RadGraph,"Effusion is larger, now moderate.",The effusion has increased.,paraphrase\n'
                   'RadGraph,Edema has improved.,Edema is worse.,Contradiction\n'
                   'RadGraph,,Edema is worse.,contradiction\n'
                   'RadGraph,Stable edema.,Edema is unchanged.,neutral\n'
                   'RadGraph,Stable edema.,Edema is unchanged.,paraphrase\n')
    assert find_mscxrt_file(tmp_path / "physionet", SENTENCE_FILE) == csv
    pairs, skips = load_sentence_pairs(csv)
    assert [(p.pair_id, p.category) for p in pairs] == [("1", "paraphrase"), ("2", "contradiction"),
                                                        ("5", "paraphrase")]
    assert pairs[0].sentence_1 == "Effusion is larger, now moderate."
    assert dict(skips.counts) == {"empty sentence": 1, "unknown category": 1}
    assert skips.examples["unknown category"] == [f"{SENTENCE_FILE} line 5: 'neutral'"]
