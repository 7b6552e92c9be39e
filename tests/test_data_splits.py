"""RSNA splits: GLoRIA's and MGCA's published splits, rebuilt without scikit-learn, cross-checked against it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sklearn.model_selection import train_test_split

from msxr_bench.cli.rsna_split_cmd import rsna_split_cmd
from msxr_bench.data.rsna import load_rsna, rsna_patient_ids
from msxr_bench.data.splits import KNOWN_SPLITS, matches_known_split, rsna_split, shuffle_split
from msxr_bench.hashing import ordered_ids_sha256

LABELS = Path(__file__).parent / "data" / "kaggle_stage_2_train_labels.csv.zip"


@pytest.fixture(scope="module")
def real_ids() -> list[str]:
    return rsna_patient_ids(LABELS)


@pytest.fixture(scope="module")
def positives() -> set[str]:
    samples, skips = load_rsna(LABELS, LABELS.parent, check_images=False)
    assert skips.total == 0 and len(samples) == 26684
    return {s.patient_id for s in samples if s.label == 1}


def sklearn_split(ids: list[str], test_size) -> dict[str, list[str]]:
    """The official recipe verbatim: groupby-sorted frame, two train_test_split calls, test first."""
    df = pd.DataFrame({"patientId": ids}).groupby("patientId").size().reset_index()
    train, rest = train_test_split(df, test_size=test_size, random_state=0)
    test, valid = train_test_split(rest, test_size=0.5, random_state=0)
    return {"train": list(train.patientId), "val": list(valid.patientId), "test": list(test.patientId)}


def test_gloria_split_on_the_real_labels(real_ids, positives):
    split = rsna_split(real_ids, "gloria")
    sizes = {k: (len(v), sum(i in positives for i in v)) for k, v in split.items()}
    assert sizes == {"train": (18678, 4162), "val": (4003, 928), "test": (4003, 922)}
    assert split["test"][:3] == [
        "f2698fda-0477-435f-b297-f1b284a731aa",
        "b76dd4b8-7b51-4cb6-8fd7-0b7365ef3e1e",
        "5d8dbcf9-0d68-4aec-8638-b0a9f45d71d6",
    ]
    assert split == sklearn_split(real_ids, 0.3)
    assert matches_known_split(split, "gloria")


def test_mgca_split_on_the_real_labels(real_ids, positives):
    split = rsna_split(real_ids, "mgca")
    sizes = {k: (len(v), sum(i in positives for i in v)) for k, v in split.items()}
    assert sizes == {"train": (16010, 3579), "val": (5337, 1182), "test": (5337, 1251)}
    assert split == sklearn_split(real_ids, 5337 * 2)
    assert matches_known_split(split, "mgca") and not matches_known_split(split, "gloria")


def test_shipped_checksums_are_those_of_the_real_file(real_ids):
    for scheme, parts in KNOWN_SPLITS.items():
        split = rsna_split(real_ids, scheme)
        assert {k: (len(v), ordered_ids_sha256(v)) for k, v in split.items()} == parts


def test_split_ignores_input_order_and_duplicates(real_ids):
    shuffled = list(np.random.default_rng(1).permutation(real_ids)) + real_ids[:50]
    assert rsna_split(shuffled, "gloria") == rsna_split(real_ids, "gloria")


@pytest.mark.parametrize("n, test_size", [(10, 0.3), (7, 0.5), (101, 0.25), (50, 13), (3, 1)])
def test_shuffle_split_equals_scikit_learn(n, test_size):
    train, test = shuffle_split(n, test_size)
    sk_train, sk_test = train_test_split(np.arange(n), test_size=test_size, random_state=0)
    np.testing.assert_array_equal(train, sk_train)
    np.testing.assert_array_equal(test, sk_test)


def test_bad_scheme_and_sizes_are_clear_errors():
    with pytest.raises(ValueError, match="known schemes: gloria, mgca"):
        rsna_split(["a", "b", "c"], "biovil")
    with pytest.raises(ValueError, match="cannot split 5 samples"):
        rsna_split([str(i) for i in range(5)], "mgca")


def test_sha256_is_of_newline_joined_ids():
    # printf 'a\nb' | sha256sum
    assert ordered_ids_sha256(["a", "b"]) == "7e18f737311b2dc3b2f269dd78396b0351f14fb66efa879f768cb23181883c78"


def test_cli_writes_the_lists(tmp_path, real_ids):
    result = CliRunner().invoke(rsna_split_cmd, ["--labels", str(LABELS), "--scheme", "gloria",
                                                 "--output", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    split = rsna_split(real_ids, "gloria")
    for name in ("train", "val", "test"):
        assert (tmp_path / "out" / f"{name}.txt").read_text().splitlines() == split[name]
    assert "18678 images,  4162 positive" in result.output
    assert KNOWN_SPLITS["gloria"]["test"][1] in result.output
    assert "matches the published gloria split" in result.output


def test_cli_reports_a_missing_labels_file(tmp_path):
    result = CliRunner().invoke(rsna_split_cmd, ["--labels", str(tmp_path / "x.csv"), "--output", str(tmp_path)])
    assert result.exit_code != 0 and "x.csv" in result.output
