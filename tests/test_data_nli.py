"""nli.load_nli on RadNLI / MedNLI JSONL in their real field layouts, and bad-line errors with line numbers."""

from __future__ import annotations

import json

import pytest

from msxr_bench.data.nli import find_nli_file, load_nli
from msxr_bench.data.types import DatasetFormatError, NLIPair

RADNLI = [
    {"pair_id": "0", "sentence1": "No pneumothorax.", "sentence2": "There is a pneumothorax.", "gold_label": "contradiction"},
    {"pair_id": "1", "sentence1": "Large left effusion.", "sentence2": "Left pleural effusion.", "gold_label": "entailment"},
]
MEDNLI = {"sentence1": "Labs were notable for Cr 1.7.", "pairID": "23eb94b8-66c7-11e7-a8dc-f45c89b91419",
          "sentence1_parse": "(ROOT ...)", "sentence1_binary_parse": "( ... )", "sentence2": "Patient has normal Cr",
          "sentence2_parse": "(ROOT ...)", "sentence2_binary_parse": "( ... )", "gold_label": "contradiction"}


def write(path, records, extra: str = ""):
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + extra)
    return path


def test_radnli_pairs(tmp_path):
    pairs = load_nli(write(tmp_path / "radnli_dev_v1.jsonl", RADNLI))
    assert pairs == [NLIPair("0", "No pneumothorax.", "There is a pneumothorax.", "contradiction"),
                     NLIPair("1", "Large left effusion.", "Left pleural effusion.", "entailment")]


def test_mednli_pairs_use_pairID(tmp_path):
    pairs = load_nli(write(tmp_path / "mli_dev_v1.jsonl", [MEDNLI], extra="\n"))
    assert pairs == [NLIPair(MEDNLI["pairID"], MEDNLI["sentence1"], MEDNLI["sentence2"], "contradiction")]


@pytest.mark.parametrize("line, message", [
    ('{"pair_id": "2", "sentence1": "a", "sentence2": "b", "gold_label": "Entailment"}', "gold_label 'Entailment'"),
    ('{"pair_id": "2", "sentence1": "a", "sentence2": "b", "gold_label": "-"}', "is not one of entailment"),
    ('{"pair_id": "2", "sentence1": "a", "gold_label": "neutral"}', "missing field 'sentence2'"),
    ('{"id": "2", "sentence1": "a", "sentence2": "b", "gold_label": "neutral"}', "'pair_id' .* or 'pairID'"),
    ('{"pair_id": "2", "sentence1": "a", "sentence2": "b", ', "not valid JSON"),
    ('["a", "b"]', "expected a JSON object"),
    ('{"pair_id": "1", "sentence1": "a", "sentence2": "b", "gold_label": "neutral"}', "'1' already used on line 2"),
    ('{"pair_id": "2", "sentence1": null, "sentence2": "b", "gold_label": "neutral"}', "'sentence1' must be a string"),
])
def test_bad_line_names_file_and_line(tmp_path, line, message):
    path = write(tmp_path / "radnli_test_v1.jsonl", RADNLI, extra="\n" + line + "\n")  # blank line 3, bad line 4
    with pytest.raises(DatasetFormatError, match=rf"radnli_test_v1\.jsonl line 4: .*{message}"):
        load_nli(path)


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(DatasetFormatError, match="not found.*nope.jsonl"):
        load_nli(tmp_path / "nope.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(DatasetFormatError, match="no NLI pairs"):
        load_nli(tmp_path / "empty.jsonl")


def test_find_files(tmp_path):
    (tmp_path / "radnli").mkdir()
    dev = write(tmp_path / "radnli" / "radnli_dev_v1.jsonl", RADNLI)
    physionet = tmp_path / "mednli-a-natural-language-inference-dataset-for-the-clinical-domain-1.0.0"
    physionet.mkdir()
    train = write(physionet / "mli_train_v1.jsonl", [MEDNLI])
    assert find_nli_file(tmp_path, "radnli-dev") == dev == find_nli_file(tmp_path, "radnli_dev")
    assert find_nli_file(tmp_path, "mednli/train") == train
    with pytest.raises(DatasetFormatError, match="radnli_test_v1.jsonl not found"):
        find_nli_file(tmp_path, "radnli-test")
    with pytest.raises(ValueError, match="known: radnli-dev, radnli-test, mednli-train"):
        find_nli_file(tmp_path, "radnli-train")
