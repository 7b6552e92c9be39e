"""What the leaderboard ranks: one fixed setting per task (dataset version, split, prompts) and the canonical
sample sets of that setting, on the real data and on the bundled toy world (`fixtures/toyworld`, tiny, seed 0).

A results file is placed on the board only when its sample-id hash is one of these; which one decides its track
("real" or "toyworld"). Hashes are `hashing.sample_ids_sha256` (sorted ids joined by newlines); the RSNA
ones were computed from the real Kaggle stage-2 labels (tests/data), the toy-world ones from the fixture with
`python -m msxr_bench.leaderboard.canonical fixtures/toyworld` (both re-checked by tests/test_leaderboard_board.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from msxr_bench.data.splits import KNOWN_SPLITS
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
    n: int
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

BOARD: dict[str, BoardSetting] = {
    s.task: s
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
    )
}


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
