"""The RSNA Pneumonia samples of a run: labels file found under the data root, split rebuilt from all its ids.

Shared by `rsna-cls` and `rsna-seg`; no scoring here.
"""

from __future__ import annotations

from dataclasses import dataclass

from msxr_bench.data.rsna import IMAGE_SIZE, RsnaFiles, find_rsna_files, load_rsna, rsna_patient_ids
from msxr_bench.data.splits import matches_known_split, rsna_split
from msxr_bench.hashing import ordered_ids_sha256
from msxr_bench.data.types import RsnaSample, SkipReport
from msxr_bench.results import FileRecord
from msxr_bench.tasks.assemble import file_record
from msxr_bench.tasks.spec import EvalContext, TaskSpec

BOX_FRAME = (IMAGE_SIZE, IMAGE_SIZE)


@dataclass
class RsnaSelection:
    samples: list[RsnaSample]  # loaded samples of the split, in split order
    split: str
    scheme: str | None  # None for split "all"
    files: RsnaFiles
    loader_skips: SkipReport
    split_record: dict  # how the split was made, its size and checksum (recorded in the results)

    def file_records(self) -> list[FileRecord]:
        out = [file_record("labels", self.files.labels)]
        if self.files.class_info is not None:
            out.append(file_record("detailed_class_info", self.files.class_info))
        return out


def select_rsna(spec: TaskSpec, ctx: EvalContext) -> RsnaSelection:
    split = ctx.split or spec.dataset.default_split
    if split not in spec.dataset.splits:
        raise ValueError(f"{spec.name}: unknown split {split!r}; RSNA splits: {', '.join(spec.dataset.splits)}")
    files = find_rsna_files(ctx.data_root)
    loaded, skips = load_rsna(files.labels, files.images_dir, files.class_info)
    skips.source = f"{files.labels.name} (whole file, every split)"
    all_ids = rsna_patient_ids(files.labels)
    if split == "all":
        ids, scheme = sorted(all_ids), None
        record = {"split": "all", "n_ids": len(ids), "ids_sha256": ordered_ids_sha256(ids)}
    else:
        scheme = ctx.split_scheme
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
    return RsnaSelection(samples, split, scheme, files, skips, record)
