"""The sample sets of the leaderboard's settings, computed from a data root with the tasks' own selection code
(no model involved): how the toy-world constants of `board.py` are made and re-checked, and how someone with the
real MS-CXR / RadNLI files can compute their hashes.

    python -m msxr_bench.leaderboard.canonical DATA_ROOT [TRACK]   (TRACK: toyworld (default) or real)
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

from msxr_bench.data.mscxr import find_mscxr_annotations, load_mscxr
from msxr_bench.data.nli import find_nli_file, load_nli
from msxr_bench.leaderboard.board import BOARD, SampleSet
from msxr_bench.tasks import TASKS
from msxr_bench.hashing import sample_ids_sha256
from msxr_bench.tasks.rsna_data import select_rsna


def _ids(task: str, root: Path, track: str) -> list[str]:
    setting = BOARD[task]
    split, scheme = setting.run_split(track), setting.split_of(track)[1]
    if task == "ms-cxr":
        samples, _ = load_mscxr(find_mscxr_annotations(root, setting.dataset_version), root, split=None)
        return [s.sample_id for s in samples]
    if task in ("rsna-cls", "rsna-seg"):
        ctx = SimpleNamespace(split=split, split_scheme=scheme or "gloria", data_root=root)  # what select_rsna reads
        selected = select_rsna(TASKS[task], ctx).samples  # type: ignore[arg-type]
        return [s.patient_id for s in selected if task == "rsna-cls" or s.label == 1]
    return [p.pair_id for p in load_nli(find_nli_file(root, f"radnli-{split}"))]


def sample_sets(root: Path, track: str = "toyworld") -> dict[str, SampleSet]:
    """Task -> the sample set (n, sha256 of the sorted ids, the track's own split) of the leaderboard setting of
    `track` on the data under `root`."""
    out = {}
    for task, setting in BOARD.items():
        ids = _ids(task, Path(root), track)
        own = setting.canonical[track]
        out[task] = SampleSet(len(ids), sample_ids_sha256(ids), own.split, own.split_scheme)
    return out


if __name__ == "__main__":
    track = sys.argv[2] if len(sys.argv) > 2 else "toyworld"
    for task, s in sample_sets(Path(sys.argv[1]), track).items():
        print(f"{task:10} n={s.n:5} sha256={s.sha256}" + (f" split={s.split!r}" if s.split else ""))
