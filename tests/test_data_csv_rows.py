"""Loader skips say what is really wrong with a CSV row, and where: a short or long row is counted as such
with its true file line (never as a missing size, never padded or shifted), and skip examples hold ids and
lines, never MS-CXR phrase text."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from msxr_bench.data.mscxr import load_mscxr
from msxr_bench.data.rsna import load_rsna, rsna_patient_ids
from msxr_bench.data.types import Box
from test_data_mscxr import COLUMNS, D1, D2, P2, PHRASE_B, ROWS
from test_data_rsna import A, B, C, HEADER

MSCXR_HEADER = ",".join(COLUMNS + ["split"]) + "\n"


def mscxr_csv(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "a.csv"
    path.write_text(MSCXR_HEADER + "".join(lines))
    return path


def line(row: list) -> str:
    return ",".join(f'"{v}"' if isinstance(v, str) and "," in v else str(v) for v in row) + "\n"


def test_mscxr_short_row_is_too_few_fields_with_its_line_and_drops_its_phrase(tmp_path):
    short = ROWS[1][:8]  # second box of D1's first phrase, cut before image_width
    path = mscxr_csv(tmp_path, [line(ROWS[0]), line(short), line(ROWS[2]), line(ROWS[3])])
    samples, skips = load_mscxr(path, tmp_path, check_images=False)
    assert dict(skips.counts) == {"row has too few fields": 1, "phrase dropped: a box row was rejected": 1}
    assert skips.examples["row has too few fields"] == ["a.csv line 3 (8 fields, header has 11)"]
    assert skips.examples["phrase dropped: a box row was rejected"] == [f"{D1}/0 (a.csv line 2)"]
    assert [s.sample_id for s in samples] == [f"{D1}/1", f"{D2}/0"]  # ids do not move


def test_mscxr_long_row_is_too_many_fields_and_the_rest_is_read(tmp_path):
    path = mscxr_csv(tmp_path, [line(ROWS[0] + ["extra"]), line(ROWS[1]), line(ROWS[2]), line(ROWS[3])])
    samples, skips = load_mscxr(path, tmp_path, check_images=False)
    assert skips.examples["row has too many fields"] == ["a.csv line 2 (12 fields, header has 11)"]
    assert [s.sample_id for s in samples] == [f"{D1}/1", f"{D2}/0"]
    assert samples[0].boxes == (Box(25, 40, 14, 20),)


def test_mscxr_lines_are_file_lines_past_blank_lines_and_quoted_newlines(tmp_path):
    bad = list(ROWS[3])
    bad[4] = "ten"
    multiline = list(ROWS[2])
    multiline[2] = "small left\neffusion"
    path = mscxr_csv(tmp_path, [line(ROWS[0]), "\n", line(multiline), line(bad)])
    _, skips = load_mscxr(path, tmp_path, check_images=False)
    assert skips.examples["non-numeric box"] == ["a.csv line 6"]  # header 1, row 2, blank 3, rows 4-5, 6


def test_mscxr_skip_examples_hold_no_phrase_text(tmp_path):
    conflicting = [D1, "Atelectasis"] + ROWS[2][2:]  # PHRASE_B under a second category
    other = [D2, "Pneumonia", "ok", P2, 10, 5, 30, 30, 60, 40, "sometime"]  # unknown split: rejected box row
    also = [D2, "Pneumonia", "ok", P2, 1, 1, 3, 3, 60, 40, "test"]
    path = mscxr_csv(tmp_path, [line(r) for r in (ROWS[2], conflicting, also, other)])
    _, skips = load_mscxr(path, tmp_path, check_images=False)
    assert skips.examples == {"phrase with conflicting categories": [f"{D1}/0 (a.csv line 2)"],
                              "unknown split value": ["a.csv line 5"],
                              "phrase dropped: a box row was rejected": [f"{D2}/0 (a.csv line 4)"]}
    examples = [e for ex in skips.examples.values() for e in ex]
    assert not any(PHRASE_B in e or "effusion" in e or "'ok'" in e for e in examples)


def rsna_rows(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "stage_2_train_labels.csv"
    path.write_text(HEADER + body)
    return path


@pytest.mark.parametrize("bad, reason, where", [
    (f"{B},264.0,152.0\n", "row has too few fields", "line 3 (3 fields, header has 6)"),
    (f"{B},264.0,152.0,213.0,379.0,1,9\n", "row has too many fields", "line 3 (7 fields, header has 6)"),
    (f"{B},264.0,abc,213.0,379.0,1\n", "non-numeric box value", "line 3"),
])
def test_rsna_bad_row_is_named_by_its_own_line(tmp_path, bad, reason, where):
    body = f"{A},,,,,0\n" + bad + f"{C},,,,,0\n{B},562.0,152.0,256.0,453.0,1\n"
    samples, skips = load_rsna(rsna_rows(tmp_path, body), tmp_path, check_images=False)
    assert [s.patient_id for s in samples] == [A, C]
    assert dict(skips.counts) == {reason: 1} and skips.examples[reason] == [f"{B} ({where})"]


def test_rsna_long_first_row_does_not_shift_the_columns(tmp_path):
    """pandas makes the first column of a file whose first row is long its index, shifting every value."""
    body = f"{A},,,,,0,extra\n{B},264.0,152.0,213.0,379.0,1\n"
    path = rsna_rows(tmp_path, body)
    samples, skips = load_rsna(path, tmp_path, check_images=False)
    assert [(s.patient_id, s.label, s.boxes) for s in samples] == [(B, 1, (Box(264, 152, 213, 379),))]
    assert skips.examples["row has too many fields"] == [f"{A} (line 2 (7 fields, header has 6))"]
    assert rsna_patient_ids(path) == [A, B]


def test_gzip_and_zip_tables_are_read_with_their_lines(tmp_path):
    import zipfile

    from msxr_bench.data.tables import read_csv_rows

    text = HEADER + f"{A},,,,,0\n\n{B},264.0,152.0,213.0,379.0,1\n"
    with gzip.open(tmp_path / "t.csv.gz", "wt") as f:
        f.write(text)
    with zipfile.ZipFile(tmp_path / "t.csv.zip", "w") as zf:
        zf.writestr("t.csv", text)
    for name in ("t.csv.gz", "t.csv.zip"):
        header, rows = read_csv_rows(tmp_path / name, ("patientId",))
        assert header == HEADER.strip().split(",")
        assert [(r.line, r.values["patientId"], r.n_fields) for r in rows] == [(2, A, 6), (4, B, 6)]
