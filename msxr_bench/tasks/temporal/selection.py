"""The MS-CXR-T classification samples of a protocol and split: the label-quality filter, the seeded subject-level
70/10/20 split (made from every subject of the file, whatever images are present) and the MIMIC-CXR split of the
current study. Every choice is recorded (`Loaded.split_record`) with the hash of the ids it selects."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from msxr_bench.data.mscxr_t import (
    DATASET_VERSION, IMAGE_FILE, ProgressionSample, find_mscxrt_file, load_progression, mimic_split_of_studies,
)
from msxr_bench.data.types import DatasetFormatError, SkipReport
from msxr_bench.hashing import ordered_ids_sha256
from msxr_bench.tasks.base import Loaded, file_record
from msxr_bench.tasks.spec import ProtocolSpec
from msxr_bench.tasks.temporal.spec import MsCxrTClsParams, SUBJECT_SPLIT


def subject_split(subjects: list[str], seed: int, fractions: dict[str, float]) -> dict[str, str]:
    """{subject: part}: subjects sorted by id, permuted with numpy RandomState(seed), cut in `fractions` order
    (rounded part sizes; the last part takes the rest)."""
    ordered = sorted(set(subjects), key=lambda s: (len(s), s))
    permuted = [ordered[i] for i in np.random.RandomState(seed).permutation(len(ordered))]
    out, start = {}, 0
    names = list(fractions)
    for k, name in enumerate(names):
        stop = len(permuted) if k == len(names) - 1 else start + round(fractions[name] * len(permuted))
        out.update({s: name for s in permuted[start:stop]})
        start = stop
    return out


def _quality_filter(samples: list[ProgressionSample], wanted: tuple[str, ...] | None) -> tuple[list, dict]:
    counts = Counter(s.label_quality for s in samples)
    record = {"filter": list(wanted) if wanted is not None else None, "counts": dict(sorted(counts.items()))}
    if wanted is None:
        return samples, record
    kept = [s for s in samples if s.label_quality in wanted]
    record["n_removed"] = len(samples) - len(kept)
    return kept, record


def select_progression(params: MsCxrTClsParams, protocol: ProtocolSpec, split: str, data_root: Path) -> Loaded:
    csv = find_mscxrt_file(data_root, IMAGE_FILE)
    samples, skips = load_progression(csv, data_root)
    samples, quality = _quality_filter(samples, params.label_quality)
    mimic = mimic_split_of_studies(data_root)
    record: dict = {"protocol": protocol.name, "split": split, "label_quality": quality}
    scheme = None
    if protocol.name == "subject-70-10-20":
        every_row, _ = load_progression(csv, data_root, check_images=False)
        parts = subject_split([s.subject_id for s in every_row], SUBJECT_SPLIT["seed"], SUBJECT_SPLIT["fractions"])
        record.update(rule="subjects of every valid row of the file sorted by id, numpy RandomState(seed) "
                           "permutation, cut 70/10/20 (rounded)", **SUBJECT_SPLIT,
                      subjects_sha256={p: ordered_ids_sha256(sorted(s for s, q in parts.items() if q == p))
                                       for p in SUBJECT_SPLIT["fractions"]})
        scheme = protocol.name
        if split != "all":
            samples = [s for s in samples if parts[s.subject_id] == split]
    elif protocol.name == "mimic-split":
        if mimic is None:
            raise DatasetFormatError(f"protocol mimic-split needs mimic-cxr-2.0.0-split.csv(.gz) under {data_root}")
        missing = SkipReport(source="mimic-cxr-2.0.0-split.csv")
        for s in samples:
            if s.study_id not in mimic:
                missing.add("current study not in the MIMIC-CXR split table", f"{s.sample_id} (s{s.study_id})")
        skips = SkipReport(skips.source, skips.counts + missing.counts, {**skips.examples, **missing.examples})
        samples = [s for s in samples if mimic.get(s.study_id) == split]
        record["rule"] = "the MIMIC-CXR split of the current study"
        scheme = protocol.name
    if mimic is not None:  # where the selected rows lie in MIMIC-CXR (train: seen by MIMIC-trained models)
        record["mimic_split_of_rows"] = dict(sorted(Counter(mimic.get(s.study_id, "absent") for s in samples).items()))
    ids = [s.sample_id for s in samples]
    record.update(n_ids=len(ids), ids_sha256=ordered_ids_sha256(ids))
    return Loaded(samples, ids, DATASET_VERSION, split, [file_record("image_classification", csv)], [skips],
                  split_scheme=scheme, split_record=record)


def mimic_train_rows(record: dict) -> int:
    """How many selected rows have their current study in MIMIC-CXR train (0 when the table is absent)."""
    return int(record.get("mimic_split_of_rows", {}).get("train", 0))
