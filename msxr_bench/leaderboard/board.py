"""What the leaderboard ranks: fixed settings (task, protocol, dataset version, split, prompts) and the canonical
sample sets of each, on the real data and on the bundled toy world (`fixtures/toyworld`, tiny, seed 0).

A setting is keyed by its task, plus "@<protocol>" when the protocol is not the task's default (`results.result_stem`,
also the results file's name). The main table ranks the `main` settings; every MS-CXR protocol has a track of its
own (ms-cxr and ms-cxr-boxes on it), shown as one table per protocol with heatmap and box models side by side.

A results file is placed on the board only when its sample-id hash is one of these; which one decides its track
("real" or "toyworld"). Hashes are `hashing.sample_ids_sha256` (sorted ids joined by newlines); the RSNA
ones were computed from the real Kaggle stage-2 labels (tests/data), the toy-world ones from the fixture with
`python -m msxr_bench.leaderboard.canonical fixtures/toyworld` (both re-checked by tests/test_leaderboard_board.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from msxr_bench.data.splits import KNOWN_SPLITS
from msxr_bench.results import result_stem
from msxr_bench.tasks.catalog import TASKS
from msxr_bench.tasks.radnli.spec import RadnliParams
from msxr_bench.tasks.rsna.selection import POSITIVES_OF_SPLIT
from msxr_bench.tasks.temporal.spec import DEFAULT_PROMPTS
from msxr_bench.training.nli_config import NLIFinetuneConfig

Track = str  # "real" | "toyworld"
TRACK_LABELS = {
    "real": "real data (MS-CXR / RSNA / RadNLI)",
    "toyworld": "toy world (synthetic fixture data in the real formats — not MS-CXR, not RSNA)",
}
MIN_HARNESS_VERSION = (0, 1, 0)


@dataclass(frozen=True)
class SampleSet:
    n: int | None  # None: not known to this harness either (compute it with canonical.py on the real files)
    sha256: str | None  # None: not known to this harness (only the size can be checked)
    # a track's own split (and RSNA scheme) where it differs from the setting's: the toy world's RSNA files are
    # too few for a 15% test split to mean anything, so its track scores all of them (zero-shot: none is trained on)
    split: str | None = None
    split_scheme: str | None = None


@dataclass(frozen=True)
class BoardSetting:
    task: str
    title: str  # column heading
    dataset_version: str
    split: str
    split_scheme: str | None
    canonical: dict[Track, SampleSet]
    scoring: dict[str, object] = field(default_factory=dict)  # scoring choices that must equal these values
    ordered_split_sha256: str | None = None  # real data: scoring.split.ids_sha256 (RSNA, split order)
    honest_companion: str | None = None  # shown with a main score that can flatter (absolute CNR: the signed one)
    protocol: str | None = None  # None: the task's default protocol
    main: bool = True  # a column of the main table (mean rank); else shown in its protocol's table only

    @property
    def key(self) -> str:
        return self.task if self.protocol is None else f"{self.task}@{self.protocol}"

    def split_of(self, track: Track) -> tuple[str, str | None]:
        """(dataset.split, dataset.split_scheme) that results of `track` must record."""
        own = self.canonical[track]
        return (own.split, own.split_scheme) if own.split is not None else (self.split, self.split_scheme)

    def run_split(self, track: Track) -> str:
        """The `--split` value that makes the results of `track` (dataset.split without rsna-seg's suffix)."""
        return self.split_of(track)[0].removesuffix(POSITIVES_OF_SPLIT)


_GLORIA_TEST = KNOWN_SPLITS["gloria"]["test"]
_RADNLI_TEST = {
    # RadNLI test has 480 pairs (Miura et al. 2021); the id hash needs the real file
    "real": SampleSet(480, None),
    "toyworld": SampleSet(60, "e7c380ea056f05331bffdfc7d9585deec3c69af257f30f4d4e104ef70e569f4f"),
}
_RADNLI_SEEDS = list(RadnliParams().seeds)  # the protocol: seeds and fine-tuning hyper-parameters (defaults)

_TOY_MS_CXR_ALL = SampleSet(45, "ca4c822c2eaa99d0d73530c2be83e2d718b2fd04b58ea5df8e1cc7db90e04e0a")
# MS-CXR protocols: (protocol, release, split, split scheme, toy sample set); the toy world draws every MS-CXR image
# from MIMIC test subjects, so chex/test and mimic-split/test hold all its pairs (the remap is tested apart)
_MS_CXR_TRACKS = (
    (None, "0.1", "all", None, _TOY_MS_CXR_ALL),
    ("v1.1.0-test", "1.1.0", "test", None,
     SampleSet(6, "83e5ff65c5ac93a6f8b2ef7dbe77f687bf12aeefee64c5d9dc5cd39252acabf0")),
    ("chex", "0.1", "test", "chex", _TOY_MS_CXR_ALL),
    ("mimic-split", "0.1", "test", "mimic-split", _TOY_MS_CXR_ALL),
)
_MS_CXR_PROTOCOL_TRACKS = tuple(
    BoardSetting(task=task, title=title, dataset_version=version, split=split, split_scheme=scheme,
                 canonical={"real": SampleSet(1162 if protocol is None else None, None), "toyworld": toy},
                 scoring=scoring, honest_companion=companion, protocol=protocol, main=False)
    for protocol, version, split, scheme, toy in _MS_CXR_TRACKS
    for task, title, scoring, companion in (
        ("ms-cxr", "MS-CXR CNR (macro)", {"iou_thresholds": [0.1, 0.2, 0.3, 0.4, 0.5]}, "signed_cnr_macro"),
        ("ms-cxr-boxes", "MS-CXR boxes Acc@0.5", {}, None))
    if (task, protocol) != ("ms-cxr", None)  # ms-cxr on v0.1-all is the main table's column
)
# PadChest-GR's official test part (the real size needs the release's master table); box metrics, every model kind
_PADCHEST_GR_TRACK = BoardSetting(
    task="padchest-gr", title="PadChest-GR Acc@0.5", dataset_version="20240819", split="test",
    split_scheme="master table",  # what the task records (its split is the master table's)
    canonical={"real": SampleSet(None, None),
               "toyworld": SampleSet(25, "07df9597cf3ab921d1b64786db0c15b7ec6db16d497c797c4610f8e66320501c")},
    main=False)
# tasks without a leaderboard setting, and why
UNRANKED: dict[str, str] = {
    "rsna-cls-probe": "a probe trains on labels with a fitting grid and seeds of its own: not a zero-shot number "
                      "of the model alone; compare probe runs with `msxr-bench compare`",
    "rsna-seg-probe": "as rsna-cls-probe",
    "text-intrinsics": "its real sample set (MIMIC-CXR validate reports) has no published id hash yet",
}


def setting_key(task: str, protocol: str) -> str:
    """The board key of a result of `task` under `protocol` (its file stem)."""
    spec = TASKS.get(task)
    return result_stem(task, protocol, spec.default_protocol.name if spec else protocol)


def setting_of(result: Any) -> BoardSetting | None:
    """The board setting a results file belongs to (by task and recorded protocol), None when not ranked."""
    return BOARD.get(setting_key(result.task.name, result.protocol.name))


BOARD: dict[str, BoardSetting] = {
    s.key: s
    for s in (
        BoardSetting(
            task="ms-cxr", title="MS-CXR CNR (macro)", dataset_version="0.1", split="all", split_scheme=None,
            canonical={
                # the 1,162 (image, phrase) pairs of MS-CXR 0.1 (PhysioNet); their id hash needs the real files
                "real": SampleSet(1162, None),
                "toyworld": SampleSet(45, "ca4c822c2eaa99d0d73530c2be83e2d718b2fd04b58ea5df8e1cc7db90e04e0a"),
            },
            scoring={"iou_thresholds": [0.1, 0.2, 0.3, 0.4, 0.5]}, honest_companion="signed_cnr_macro",
        ),
        BoardSetting(
            task="rsna-cls", title="RSNA zero-shot AUROC", dataset_version="stage-2", split="test",
            split_scheme="gloria",
            canonical={
                "real": SampleSet(4003, "00eda73bce215e4b1dfd37b4eb6f7ea42e5753b33c64fbbb6f7587279129d598"),
                "toyworld": SampleSet(24, "7bb4e1b9a5e6c365ffa0a332871e58413858a757cafac1a8b80aaea22462fcc9",
                                      split="all"),
            },
            scoring={"positive_prompts": ["Findings suggesting pneumonia"],
                     "negative_prompts": ["No evidence of pneumonia"]},
            ordered_split_sha256=_GLORIA_TEST[1],
        ),
        BoardSetting(
            task="rsna-seg", title="RSNA zero-shot Dice", dataset_version="stage-2", split=f"test{POSITIVES_OF_SPLIT}",
            split_scheme="gloria",
            canonical={
                "real": SampleSet(922, "e7028522db629b87fffb024c66aba43e16e76c80ee1c4ba1d46f0323e9da9d1f"),
                "toyworld": SampleSet(12, "f3e279302b66138172c70da6a839896cfd0683c5e73dd2e98dda984a210dbad9",
                                      split=f"all{POSITIVES_OF_SPLIT}"),
            },
            scoring={"positive_prompts": ["Findings suggesting pneumonia"], "threshold": 0.6},
            ordered_split_sha256=_GLORIA_TEST[1],
        ),
        BoardSetting(
            task="radnli-zs", title="RadNLI contradiction gap", dataset_version="1.0", split="test",
            split_scheme=None, canonical=_RADNLI_TEST,
        ),
        BoardSetting(
            task="radnli", title="RadNLI accuracy (fine-tuned)", dataset_version="1.0", split="test",
            split_scheme=None, canonical=_RADNLI_TEST,
            scoring={"seeds": _RADNLI_SEEDS, "hyperparameters": NLIFinetuneConfig().to_dict()},
        ),
        BoardSetting(
            task="ms-cxr-t-cls", title="MS-CXR-T macro accuracy", dataset_version="1.0.0", split="all",
            split_scheme=None,
            canonical={
                # PhysioNet's 1,326 labels (every labelled (pair, finding)); their id hash needs the real file
                "real": SampleSet(1326, None),
                "toyworld": SampleSet(25, "7a349ab70d6d14ac089f660e902bb2007dd696cee0c539d5868cc62d94ff6981"),
            },
            scoring={"mode": "zero-shot", "prompts": DEFAULT_PROMPTS, "label_quality": None},
        ),
        BoardSetting(
            task="ms-cxr-t-sim", title="MS-CXR-T sentence ROC-AUC", dataset_version="1.0.0", split="all",
            split_scheme=None,
            canonical={
                "real": SampleSet(361, None),
                "toyworld": SampleSet(40, "3610e7f6627458ff80db155c4edf23b746621e8da7a8733d4536815a57b97b04"),
            },
            scoring={"threshold_folds": 5, "fold_seed": 0},
        ),
    ) + _MS_CXR_PROTOCOL_TRACKS + (_PADCHEST_GR_TRACK,)
}


MAIN: tuple[str, ...] = tuple(k for k, s in BOARD.items() if s.main)


def parse_version(text: str) -> tuple[int, ...] | None:
    """(major, minor, patch) of a 'X.Y.Z[suffix]' version string, None when it is not one."""
    parts = text.strip().split(".")
    if len(parts) < 3:
        return None
    nums = []
    for p in parts[:3]:
        digits = "".join(ch for ch in p if ch.isdigit()) if p[:1].isdigit() else ""
        if not digits or not p.startswith(digits):
            return None
        nums.append(int(digits))
    return tuple(nums)
