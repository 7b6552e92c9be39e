"""RSNA Pneumonia image-level splits of the literature, rebuilt deterministically from the Kaggle label file.

GLoRIA (`gloria/datasets/preprocess_datasets.py`) and MGCA (`mgca/preprocess/rsna.py`) build one row per
`patientId` sorted by id (pandas `groupby`), then call scikit-learn
``train, rest = train_test_split(df, test_size=A, random_state=0)`` and
``test, val = train_test_split(rest, test_size=0.5, random_state=0)`` -- *test is the first output* of the
second call. A = 0.3 for GLoRIA (and MGCA classification), A = 5337 * 2 for MGCA detection/segmentation.
scikit-learn is not a runtime dependency: `shuffle_split` reproduces its `ShuffleSplit` arithmetic exactly
(tests cross-check against scikit-learn). Ids must be *all* ids of the labels file, whether or not their
images are present, or the split changes.
"""

from __future__ import annotations

import math

import numpy as np

from msxr_bench.hashing import ordered_ids_sha256

# scheme -> first test_size (float = fraction, int = count); the second split is always 0.5
SCHEMES: dict[str, float | int] = {"gloria": 0.3, "mgca": 5337 * 2}
SPLIT_NAMES = ("train", "val", "test")

# sizes and sha256 of "\n".join(ids) on the real Kaggle stage-2 labels file (26,684 ids)
KNOWN_SPLITS: dict[str, dict[str, tuple[int, str]]] = {
    "gloria": {
        "train": (18678, "3636029f7e38baf996884513a1671f4298c33582e59b01358aca9a8ee5a966e1"),
        "val": (4003, "5c1f9790ea1d2a2eac0dea3ea12b61226ca079af771207ae5cbfe065319a90da"),
        "test": (4003, "03176609aaf3ffe0219f67bd5ddb62217c857aed7d386572d77cc414e9547f77"),
    },
    "mgca": {
        "train": (16010, "c4ae6c4bc266ce7d0c81ef740aaa932eee11a2fd32b4f64b88bfbd165d70a06b"),
        "val": (5337, "ce3791d97d9b4aad3777b84eb9d4ca3ecdb75e4173f4d80a54464a9b0b52a972"),
        "test": (5337, "680ae5b060c38e9624f3074736b2c6c5695767979102b571883c9ea57b785f92"),
    },
}


def shuffle_split(n_samples: int, test_size: float | int, random_state: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) index arrays exactly as scikit-learn's `train_test_split(..., shuffle=True)`."""
    if isinstance(test_size, bool) or not isinstance(test_size, (int, float, np.integer, np.floating)):
        raise TypeError(f"test_size must be an int or a float, got {test_size!r}")
    if isinstance(test_size, (float, np.floating)):
        if not 0.0 < test_size < 1.0:
            raise ValueError(f"a fractional test_size must lie in (0, 1), got {test_size}")
        n_test = math.ceil(test_size * n_samples)
    else:
        n_test = int(test_size)
    n_train = n_samples - n_test
    if n_test <= 0 or n_train <= 0:
        raise ValueError(f"cannot split {n_samples} samples with test_size={test_size}: "
                         f"train would have {n_train} and test {n_test}")
    permutation = np.random.RandomState(random_state).permutation(n_samples)
    return permutation[n_test : n_test + n_train], permutation[:n_test]


def rsna_split(patient_ids: list[str], scheme: str) -> dict[str, list[str]]:
    """Train/val/test patientIds of `scheme` ('gloria' or 'mgca'), each in the order the splits produce.
    Ids are de-duplicated and sorted first, as the official `groupby('patientId')` does."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown RSNA split scheme {scheme!r}; known schemes: {', '.join(SCHEMES)}")
    ids = np.array(sorted(set(patient_ids)), dtype=object)
    train, rest = shuffle_split(len(ids), SCHEMES[scheme])
    rest_ids = ids[rest]
    test, val = shuffle_split(len(rest_ids), 0.5)
    return {"train": list(ids[train]), "val": list(rest_ids[val]), "test": list(rest_ids[test])}




def matches_known_split(split: dict[str, list[str]], scheme: str) -> bool:
    """True when every part of `split` has the size and checksum of `scheme` on the real Kaggle file."""
    known = KNOWN_SPLITS.get(scheme, {})
    return bool(known) and all(
        name in split and (len(split[name]), ordered_ids_sha256(split[name])) == known[name] for name in SPLIT_NAMES
    )
