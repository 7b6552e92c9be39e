"""The RSNA Pneumonia samples of a run: labels file found under the data root, split rebuilt from all its ids.

Shared by `rsna-cls` and `rsna-seg`; no scoring here.
"""

from __future__ import annotations

from pathlib import Path

from msxr_bench.data.rsna import IMAGE_SIZE, find_rsna_files, load_rsna, rsna_patient_ids
from msxr_bench.data.splits import matches_known_split, rsna_split
from msxr_bench.hashing import ordered_ids_sha256
from msxr_bench.tasks.base import Loaded, file_record
from msxr_bench.tasks.spec import ProtocolSpec

BOX_FRAME = (IMAGE_SIZE, IMAGE_SIZE)


def select_rsna(data_root: Path, protocol: ProtocolSpec, split: str, positives_only: bool = False) -> Loaded:
    """The loaded samples of `split` under `protocol` (a rebuilt split scheme; "all" = every image), in split
    order; `positives_only` keeps the pneumonia images (segmentation)."""
    files = find_rsna_files(data_root)
    loaded, skips = load_rsna(files.labels, files.images_dir, files.class_info)
    skips.source = f"{files.labels.name} (whole file, every split)"
    all_ids = rsna_patient_ids(files.labels)
    if split == "all":
        ids, scheme = sorted(all_ids), None
        record = {"split": "all", "n_ids": len(ids), "ids_sha256": ordered_ids_sha256(ids)}
    else:
        scheme = protocol.name
        parts = rsna_split(all_ids, scheme)
        ids = parts[split]
        record = {
            "split": split, "scheme": scheme, "n_ids": len(ids), "ids_sha256": ordered_ids_sha256(ids),
            "rule": "rebuilt from every patientId of the labels file (images present or not), see data/splits.py",
            "matches_published_kaggle_split": matches_known_split(parts, scheme),
        }
    by_id = {s.patient_id: s for s in loaded}
    samples = [by_id[i] for i in ids if i in by_id]
    record["n_ids_not_loaded"] = len(ids) - len(samples)
    if positives_only:
        samples = [s for s in samples if s.label == 1]
    files_used = [file_record("labels", files.labels)]
    if files.class_info is not None:
        files_used.append(file_record("detailed_class_info", files.class_info))
    label = f"{split}{POSITIVES_OF_SPLIT}" if positives_only else split
    return Loaded(samples, [s.patient_id for s in samples], protocol.dataset_version, label, files_used, [skips],
                  split_scheme=scheme, split_record=record)


POSITIVES_OF_SPLIT = " (positive images)"  # rsna-seg's dataset.split = the split + this
