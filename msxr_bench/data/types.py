"""Plain records shared by loaders, tasks and training, and the skip report every loader fills."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

MS_CXR_CATEGORIES: tuple[str, ...] = (
    "Atelectasis",
    "Cardiomegaly",
    "Consolidation",
    "Edema",
    "Lung Opacity",
    "Pleural Effusion",
    "Pneumonia",
    "Pneumothorax",
)

NLI_LABELS: tuple[str, ...] = ("entailment", "neutral", "contradiction")


class DatasetFormatError(ValueError):
    """A file is missing, lacks a column, or holds a row that cannot be read; the message names them."""


@dataclass(frozen=True)
class Box:
    """Axis-aligned box, top-left corner (x, y) and size (w, h), in pixels of the image on disk."""

    x: float
    y: float
    w: float
    h: float

    @property
    def x2(self) -> float:
        return self.x + self.w

    @property
    def y2(self) -> float:
        return self.y + self.h

    def scaled(self, sx: float, sy: float) -> "Box":
        return Box(self.x * sx, self.y * sy, self.w * sx, self.h * sy)


@dataclass(frozen=True)
class GroundingSample:
    """One MS-CXR (image, phrase) pair with the union of its boxes."""

    sample_id: str  # "<dicom_id>/<n>", stable for a given file
    dicom_id: str
    image_path: Path
    category: str
    phrase: str
    boxes: tuple[Box, ...]  # in the pixel frame of the image on disk
    image_size: tuple[int, int]  # (H, W) of the image on disk
    split: str | None = None
    subject_id: str | None = None


@dataclass(frozen=True)
class RsnaSample:
    """One RSNA image with all its boxes (empty for negatives)."""

    patient_id: str  # Kaggle's name; it identifies one image
    image_path: Path
    label: int  # 1 = pneumonia
    boxes: tuple[Box, ...]  # 1024x1024 pixel frame
    detailed_class: str | None = None


@dataclass(frozen=True)
class NLIPair:
    pair_id: str
    premise: str
    hypothesis: str
    label: str  # one of NLI_LABELS


@dataclass(frozen=True)
class ImageReportPair:
    """A MIMIC-CXR frontal image with its report sections (for training)."""

    dicom_id: str
    study_id: str
    subject_id: str
    image_path: Path
    sections: dict  # normalised section name -> text (e.g. "impression", "findings")
    split: str  # train | validate | test
    view: str | None = None


@dataclass
class SkipReport:
    """Rows or samples a loader skipped, counted by reason, with a few examples each."""

    source: str = ""
    counts: Counter = field(default_factory=Counter)
    examples: dict = field(default_factory=dict)
    max_examples: int = 5

    def add(self, reason: str, where: str) -> None:
        self.counts[reason] += 1
        ex = self.examples.setdefault(reason, [])
        if len(ex) < self.max_examples:
            ex.append(where)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def to_dict(self) -> dict:
        return {"source": self.source, "total": self.total, "counts": dict(self.counts), "examples": self.examples}

    def summary(self) -> str:
        if not self.total:
            return f"{self.source}: nothing skipped"
        parts = ", ".join(f"{n} {reason}" for reason, n in self.counts.most_common())
        return f"{self.source}: skipped {self.total} ({parts})"
