"""data.mimic_priors on a hand-written metadata table: the prior of a frontal image is a frontal image of the
subject's latest earlier study by (StudyDate, StudyTime), skipping studies without a frontal view; PA before AP;
studies at the same stamp are never each other's prior; unusable rows are counted."""

from __future__ import annotations

import gzip
from pathlib import Path

from msxr_bench.data.mimic_priors import prior_images

HEADER = ("dicom_id,subject_id,study_id,PerformedProcedureStepDescription,ViewPosition,Rows,Columns,StudyDate,"
          "StudyTime,ProcedureCodeSequence_CodeMeaning,ViewCodeSequence_CodeMeaning,"
          "PatientOrientationCodeSequence_CodeMeaning")


def _row(dicom: str, subject: str, study: str, view: str, date: str, time: str) -> str:
    return f"{dicom},{subject},{study},CHEST,{view},256,256,{date},{time},CHEST,x,Erect"


def test_previous_frontal_study_by_date_and_time(tmp_path: Path) -> None:
    rows = [
        _row("a1", "10000001", "50000001", "PA", "21000101", "101010.0"),
        _row("a2", "10000001", "50000002", "LATERAL", "21000201", "090000.0"),  # no frontal: skipped as a prior
        _row("a3", "10000001", "50000003", "AP", "21000301", "080000.5"),
        _row("a4", "10000001", "50000003", "PA", "21000301", "080000.5"),  # PA preferred in the prior study
        _row("a5", "10000001", "50000004", "AP", "21000301", "120000.0"),  # same day, later time
        _row("a6", "10000001", "50000005", "PA", "21000301", "120000.0"),  # same stamp as a5: not ordered
        _row("b1", "10000002", "50000010", "PA", "21000505", "000001.0"),
        _row("b2", "10000002", "50000011", "PA", "21000505", "000000.999"),  # earlier by StudyTime only
        _row("c1", "10000003", "50000020", "", "21000101", "1.0"),  # missing ViewPosition: not frontal
        _row("c2", "10000003", "50000021", "PA", "21000102", "1.0"),
        _row("bad", "10000004", "5000003x", "PA", "21000102", "1.0"),
        _row("bad2", "10000004", "50000031", "PA", "tomorrow", "1.0"),
    ]
    root = tmp_path / "mimic-cxr-jpg"
    root.mkdir()
    (root / "mimic-cxr-2.0.0-metadata.csv.gz").write_bytes(gzip.compress(("\n".join([HEADER, *rows]) + "\n").encode()))
    priors, skips = prior_images(root)
    got = {k: (p.dicom_id, p.study_id) for k, p in priors.items()}
    assert got == {"a3": ("a1", "50000001"), "a4": ("a1", "50000001"), "a5": ("a4", "50000003"),
                   "a6": ("a4", "50000003"), "b1": ("b2", "50000011")}
    assert priors["a5"].path == root / "files/p10/p10000001/s50000003/a4.jpg"
    assert skips.total == 2 and skips.examples["malformed id, StudyDate or StudyTime"][0].endswith("line 12")
