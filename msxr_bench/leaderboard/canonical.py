"""The sample sets of the leaderboard's settings, computed from a data root with the tasks' own selection code
(no model involved): how the toy-world constants of `board.py` are made and re-checked, and how someone with the
real MS-CXR / RadNLI files can compute their hashes.

    python -m msxr_bench.leaderboard.canonical DATA_ROOT [TRACK]   (TRACK: toyworld (default) or real)
"""

from __future__ import annotations

import sys
from pathlib import Path

from msxr_bench.hashing import sample_ids_sha256
from msxr_bench.leaderboard.board import BOARD, SampleSet
from msxr_bench.tasks.catalog import TASKS


def _ids(key: str, root: Path, track: str) -> list[str]:
    """The sample ids the task itself loads for the setting's protocol and the track's split."""
    setting = BOARD[key]
    spec = TASKS[setting.task]
    scheme = setting.split_of(track)[1]
    if setting.protocol is not None:
        protocol = spec.protocol(setting.protocol)
    elif setting.task in ("rsna-cls", "rsna-seg") and scheme:
        protocol = spec.protocol(scheme)
    else:
        protocol = spec.default_protocol
    return spec.task().load(spec.make_params({}), protocol, setting.run_split(track), root).ids


def sample_sets(root: Path, track: str = "toyworld") -> dict[str, SampleSet]:
    """Setting key -> the sample set (n, sha256 of the sorted ids, the track's own split) of the leaderboard
    setting of `track` on the data under `root`."""
    out = {}
    for key, setting in BOARD.items():
        ids = _ids(key, Path(root), track)
        own = setting.canonical[track]
        out[key] = SampleSet(len(ids), sample_ids_sha256(ids), own.split, own.split_scheme)
    return out


if __name__ == "__main__":
    track = sys.argv[2] if len(sys.argv) > 2 else "toyworld"
    for task, s in sample_sets(Path(sys.argv[1]), track).items():
        print(f"{task:26} n={s.n:5} sha256={s.sha256}" + (f" split={s.split!r}" if s.split else ""))
