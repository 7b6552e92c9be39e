"""RadNLI and MedNLI sentence pairs (JSON Lines) -> `NLIPair`s.

RadNLI (`radnli_{dev,test}_v1.jsonl`) names the id `pair_id`, MedNLI (`mli_{train,dev,test}_v1.jsonl`)
`pairID`; both have `sentence1` (premise), `sentence2` (hypothesis) and `gold_label`, which must be exactly one
of entailment / neutral / contradiction. Any bad line (not JSON, not an object, a missing field, another
label, a repeated id) raises DatasetFormatError naming the file and the line: NLI files are small and
curated, so a bad line means a wrong or damaged file, not a row to skip. Blank lines are ignored.
"""

from __future__ import annotations

import json
from pathlib import Path

from msxr_bench.data.tables import dataset_dirs
from msxr_bench.data.types import NLI_LABELS, DatasetFormatError, NLIPair

ID_FIELDS = ("pair_id", "pairID")
# dataset -> (DATA_ROOT folder, PhysioNet download folder prefix, {split: file name})
NLI_FILES: dict[str, tuple[str, str, dict[str, str]]] = {
    "radnli": ("radnli", "radnli-a-natural-language-inference-dataset-for-the-radiology-domain",
               {"dev": "radnli_dev_v1.jsonl", "test": "radnli_test_v1.jsonl"}),
    "mednli": ("mednli", "mednli-a-natural-language-inference-dataset-for-the-clinical-domain",
               {"train": "mli_train_v1.jsonl", "dev": "mli_dev_v1.jsonl", "test": "mli_test_v1.jsonl"}),
}


def load_nli(path: Path) -> list[NLIPair]:
    """Every pair of a RadNLI or MedNLI JSONL file, in file order."""
    path = Path(path)
    if not path.is_file():
        raise DatasetFormatError(f"NLI file not found: {path}")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise DatasetFormatError(f"{path}: not UTF-8 text: {exc}") from exc
    pairs, seen = [], {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path} line {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetFormatError(f"{where}: not valid JSON ({exc.msg})") from exc
        if not isinstance(record, dict):
            raise DatasetFormatError(f"{where}: expected a JSON object, got {type(record).__name__}")
        pair = _pair(record, where)
        if pair.pair_id in seen:
            raise DatasetFormatError(f"{where}: pair id {pair.pair_id!r} already used on line {seen[pair.pair_id]}")
        seen[pair.pair_id] = number
        pairs.append(pair)
    if not pairs:
        raise DatasetFormatError(f"{path}: no NLI pairs")
    return pairs


def _pair(record: dict, where: str) -> NLIPair:
    id_field = next((f for f in ID_FIELDS if f in record), None)
    if id_field is None:
        raise DatasetFormatError(f"{where}: missing field 'pair_id' (RadNLI) or 'pairID' (MedNLI)")
    for name in ("sentence1", "sentence2", "gold_label"):
        if name not in record:
            raise DatasetFormatError(f"{where}: missing field {name!r}")
        if not isinstance(record[name], str):
            raise DatasetFormatError(f"{where}: field {name!r} must be a string, got {record[name]!r}")
    label = record["gold_label"]
    if label not in NLI_LABELS:
        raise DatasetFormatError(f"{where}: gold_label {label!r} is not one of {', '.join(NLI_LABELS)}")
    return NLIPair(str(record[id_field]), record["sentence1"], record["sentence2"], label)


def find_nli_file(data_root: Path, name: str) -> Path:
    """The file of `name` -- 'radnli-dev', 'radnli-test', 'mednli-train', 'mednli-dev' or 'mednli-test'
    (also with '_' or '/') -- in DATA_ROOT/<dataset>/, DATA_ROOT, or a PhysioNet download folder."""
    dataset, _, split = name.strip().lower().replace("_", "-").replace("/", "-").partition("-")
    if dataset not in NLI_FILES or split not in NLI_FILES[dataset][2]:
        known = [f"{d}-{s}" for d, (_, _, files) in NLI_FILES.items() for s in files]
        raise ValueError(f"unknown NLI file {name!r}; known: {', '.join(known)}")
    folder, prefix, files = NLI_FILES[dataset]
    dirs = dataset_dirs(Path(data_root), folder, (prefix,))
    for d in dirs:
        if (d / files[split]).is_file():
            return d / files[split]
    raise DatasetFormatError(f"{files[split]} not found in: {', '.join(map(str, dirs)) or data_root}")
