"""Identifiers of the toy world, drawn from a seeded generator in the real datasets' formats.

MIMIC subject ids (8 digits, 1xxxxxxx), study ids (5xxxxxxx), dicom ids (5 x 8 hex), RSNA patientIds
(UUID4 strings), MedNLI pairIDs (UUID1-like) and DICOM UIDs derived from the seed (no clock, no host).
"""

from __future__ import annotations

import hashlib
import uuid

import numpy as np

# A UID root registered for examples/test data ("1.2.826.0.1.3680043.8.498" is pydicom's own root);
# the toy world appends digits derived from the seed and the object's name.
TOY_UID_ROOT = "1.2.826.0.1.3680043.8.498."
TOY_IMPLEMENTATION_UID = TOY_UID_ROOT + "1"
TOY_IMPLEMENTATION_NAME = "MSXR_TOYWORLD_1"


class UniqueIds:
    """Draws ids without repetition from one generator (so a world never reuses an id)."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.seen: set[str] = set()

    def _unique(self, make) -> str:
        while True:
            value = make()
            if value not in self.seen:
                self.seen.add(value)
                return value

    def subject_id(self) -> str:
        return self._unique(lambda: str(int(self.rng.integers(10_000_000, 20_000_000))))

    def study_id(self) -> str:
        return self._unique(lambda: str(int(self.rng.integers(50_000_000, 60_000_000))))

    def dicom_id(self) -> str:
        def make() -> str:
            raw = self.rng.bytes(20).hex()
            return "-".join(raw[i:i + 8] for i in range(0, 40, 8))

        return self._unique(make)

    def rsna_patient_id(self) -> str:
        return self._unique(lambda: str(uuid.UUID(bytes=self.rng.bytes(16), version=4)))

    def mednli_pair_id(self) -> str:
        def make() -> str:
            raw = uuid.UUID(bytes=self.rng.bytes(16), version=1).hex
            return f"{raw[:8]}-{raw[8:12]}-11e7-{raw[16:20]}-{raw[20:]}"

        return self._unique(make)


def derived_uid(seed: int, *names: str) -> str:
    """A DICOM UID (<= 64 chars) that depends only on the seed and the given names."""
    digest = hashlib.sha256("/".join([str(seed), *names]).encode()).digest()
    number = int.from_bytes(digest[:16], "big")
    return (TOY_UID_ROOT + str(number))[:64]


def mimic_group(subject_id: str) -> str:
    """The MIMIC group folder of a subject: "p" + its first two digits (p10 ... p19)."""
    return "p" + subject_id[:2]
