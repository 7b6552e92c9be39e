"""The MS-CXR protocols (`spec.MS_CXR_PROTOCOLS`): which (image, phrase) pairs a number is computed on, each built
from the user's own files and recorded (files with their sha256, the rule, the part sizes; the driver hashes the
sample ids). Shared by `ms-cxr` and `ms-cxr-boxes`.

- v0.1-all / v1.1.0-test: the release's pairs, v1.1.0 by its own `split` column.
- chex: release 0.1 re-split by the MIMIC-CXR split of each image, in ChEX's order (philip-mueller/chex
  `src/dataset/mimic_cxr_datasets.py`, tags `mscxr_valtotest` then `mscxr_traintoval`): MIMIC validate -> test,
  then everything not in test -> val; so test = MIMIC validate + test, val = MIMIC train. Frontal images only
  (metadata ViewPosition PA or AP; a missing view is not frontal), images absent from the split or metadata file
  dropped (ChEX joins them).
- mimic-split: release 0.1 pairs by the MIMIC-CXR split of their image (train / validate -> val / test), as
  CheXagent and RadVLM split MS-CXR.
- split-file:PATH: release 0.1 pairs listed in a CSV with a header and a `sample_id` column (this toolkit's
  "<dicom_id>/<k>" ids) or a `dicom_id` column (every pair of those images); `msxr-bench convert-split medrpg`
  writes one from MedRPG's `.pth`. Recorded as "split-file:<column>-sha256=<16 hex of the sorted ids' sha256>",
  never with the local path.
"""

from __future__ import annotations

from pathlib import Path

from msxr_bench.data.mimic import FRONTAL_VIEWS
from msxr_bench.data.mscxr import find_mscxr_annotations, load_mscxr
from msxr_bench.data.tables import files_parent, first_existing, read_table
from msxr_bench.data.types import DatasetFormatError, GroundingSample, SkipReport
from msxr_bench.hashing import sample_ids_sha256
from msxr_bench.tasks.base import Loaded, file_record
from msxr_bench.tasks.spec import ProtocolSpec

MIMIC_PART = {"train": "train", "validate": "val", "test": "test"}  # mimic-split
CHEX_PART = {"train": "val", "validate": "test", "test": "test"}  # valtotest, then traintoval
SPLIT_FILE_COLUMNS = ("sample_id", "dicom_id")


def mimic_table(data_root: Path, name: str) -> Path:
    """`mimic-cxr-2.0.0-<name>.csv(.gz)` of the MIMIC-CXR-JPG release under `data_root`."""
    base = files_parent(Path(data_root), "mimic-cxr-jpg")
    stem = f"mimic-cxr-2.0.0-{name}.csv"
    found = first_existing([base / f"{stem}.gz", base / stem])
    if found is None:
        raise DatasetFormatError(f"{stem}(.gz) not found in {base}: this MS-CXR protocol splits by MIMIC-CXR-JPG's "
                                 "tables")
    return found


def split_file_path(data_root: Path, argument: str) -> Path:
    path = Path(argument).expanduser()
    for candidate in (path, Path(data_root) / path):
        if candidate.is_file():
            return candidate
    raise DatasetFormatError(f"split file {argument} not found (nor under {data_root})")


def select_mscxr(data_root: Path, protocol: ProtocolSpec, split: str) -> Loaded:
    """The samples of `protocol` / `split` under `data_root` (see the module docstring)."""
    annotations = find_mscxr_annotations(data_root, protocol.dataset_version)
    if protocol.rule in ("v0.1-all", "v1.1.0-test"):
        samples, skips = load_mscxr(annotations, data_root, split=None if split == "all" else split)
        skips.source = annotations.name
        return Loaded(samples, [s.sample_id for s in samples], protocol.dataset_version, split,
                      [file_record("annotations", annotations)], [skips], pool=samples)
    every, skips = load_mscxr(annotations, data_root)
    skips.source = annotations.name
    if protocol.rule == "split-file":
        return _split_file(data_root, protocol, split, annotations, every, skips)
    split_csv = mimic_table(data_root, "split")
    table = read_table(split_csv, ("dicom_id", "split"), "MIMIC-CXR split file")
    part_of = {d.strip(): v.strip().lower() for d, v in zip(table["dicom_id"].tolist(), table["split"].tolist())}
    files = [file_record("annotations", annotations), file_record("mimic_split", split_csv)]
    rule_skips = SkipReport(source=f"{protocol.rule} split rule")
    views = None
    if protocol.rule == "chex":
        metadata = mimic_table(data_root, "metadata")
        meta = read_table(metadata, ("dicom_id", "ViewPosition"), "MIMIC-CXR metadata")
        views = {d.strip(): v.strip() for d, v in zip(meta["dicom_id"].tolist(), meta["ViewPosition"].tolist())}
        files.append(file_record("mimic_metadata", metadata))
    mapping = CHEX_PART if protocol.rule == "chex" else MIMIC_PART
    part_of_sample: dict[str, str] = {}
    for s in every:
        mimic = part_of.get(s.dicom_id)
        if mimic not in mapping:
            rule_skips.add("image not in the MIMIC-CXR split file" if mimic is None else "unknown MIMIC split value",
                           s.sample_id)
            continue
        if views is not None and views.get(s.dicom_id) not in FRONTAL_VIEWS:
            rule_skips.add("image not frontal (metadata ViewPosition not PA/AP, or missing)", s.sample_id)
            continue
        part_of_sample[s.sample_id] = mapping[mimic]
    wanted = set(mapping.values()) if split == "all" else {split}
    samples = [s for s in every if part_of_sample.get(s.sample_id) in wanted]
    sizes = {p: list(part_of_sample.values()).count(p) for p in sorted(set(mapping.values()))}
    record = {"rule": protocol.description, "part_sizes": sizes}
    return Loaded(samples, [s.sample_id for s in samples], protocol.dataset_version, split, files,
                  [skips, rule_skips], split_scheme=protocol.rule, split_record=record, pool=samples)


def _split_file(data_root: Path, protocol: ProtocolSpec, split: str, annotations: Path,
                every: list[GroundingSample], skips: SkipReport) -> Loaded:
    path = split_file_path(data_root, protocol.argument or "")
    table = read_table(path, (), "split file")
    column = next((c for c in SPLIT_FILE_COLUMNS if c in table.columns), None)
    if column is None:
        raise DatasetFormatError(f"{path}: a split file needs a header with a 'sample_id' or 'dicom_id' column "
                                 f"(columns found: {', '.join(table.columns) or 'none'})")
    ids = list(dict.fromkeys(v.strip() for v in table[column].tolist() if v.strip()))
    if not ids:
        raise DatasetFormatError(f"{path}: no ids in column {column!r}")
    wanted = set(ids)
    samples = [s for s in every if (s.sample_id if column == "sample_id" else s.dicom_id) in wanted]
    found = {s.sample_id if column == "sample_id" else s.dicom_id for s in samples}
    missing = SkipReport(source=f"{path.name} ({column} not in MS-CXR {protocol.dataset_version})")
    for i in ids:
        if i not in found:
            missing.add(f"{column} not found (or its pairs were skipped)", i)
    digest = sample_ids_sha256(ids)
    name = f"split-file:{column}-sha256={digest[:16]}"
    description = (f"MS-CXR release {protocol.dataset_version} pairs selected by the {len(ids)} {column}s of "
                   f"{path.name} (sha256 of the sorted ids {digest})")
    record = {"rule": description, "file": path.name, "column": column, "n_ids": len(ids), "ids_sha256": digest,
              "n_ids_not_found": missing.total}
    return Loaded(samples, [s.sample_id for s in samples], protocol.dataset_version, split,
                  [file_record("annotations", annotations), file_record("split_file", path)], [skips, missing],
                  split_scheme="split-file", split_record=record, pool=samples, protocol_name=name,
                  protocol_description=description)
