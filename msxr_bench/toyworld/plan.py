"""The plan of the MIMIC-CXR / MS-CXR part of a world: subjects, studies, images, findings,
reports, splits and which findings MS-CXR annotates. Nothing is drawn here (see render.py).

MS-CXR images are frontal images of MIMIC `test`-split subjects, so models trained on the MIMIC
`train` split are evaluated on images they never saw.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np

from msxr_bench.data.types import MS_CXR_CATEGORIES
from msxr_bench.toyworld.anatomy import Anatomy, sample_anatomy
from msxr_bench.toyworld.findings import Finding, count_weights, sample_findings
from msxr_bench.toyworld.ids import UniqueIds
from msxr_bench.toyworld.reports import Report, make_report
from msxr_bench.toyworld.scales import Scale

PORTRAIT = (3056, 2544)  # (H, W) of a typical MIMIC-CXR image
LANDSCAPE = (2544, 3056)
# MS-CXR pairs per category in the paper (their mix, flattened halfway towards uniform, sets targets)
MSCXR_PAIRS = {"Atelectasis": 61, "Cardiomegaly": 333, "Consolidation": 117, "Edema": 46, "Lung Opacity": 82,
               "Pleural Effusion": 96, "Pneumonia": 182, "Pneumothorax": 245}
TRAIN_FINDING_COUNTS = {0: 0.15, 1: 0.25, 2: 0.35, 3: 0.25}  # most images: 2+ findings
MSCXR_FINDING_COUNTS = {1: 0.15, 2: 0.55, 3: 0.3}


def stream(seed: int, name: str) -> np.random.Generator:
    """An independent generator per part of the world, so one part's size does not move another's."""
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


@dataclass
class ImagePlan:
    dicom_id: str
    view: str | None  # ViewPosition: PA, AP, LATERAL, LL, or None (missing in the metadata)
    size: tuple[int, int]  # (H, W)
    anatomy: Anatomy

    @property
    def frontal(self) -> bool:  # images without ViewPosition are frontal ones whose tag was lost
        return self.view not in ("LATERAL", "LL")


@dataclass
class StudyPlan:
    subject_id: str
    study_id: str
    split: str  # MIMIC split: train | validate | test
    sex: str
    study_date: int
    study_time: float
    findings: list[Finding]
    report: Report
    images: list[ImagePlan]
    mscxr_findings: list[int] = field(default_factory=list)  # indices of findings MS-CXR annotates
    mscxr_split: str | None = None  # MS-CXR v1.1.0 split (patient level)

    @property
    def frontal(self) -> ImagePlan:
        return next(im for im in self.images if im.frontal)


def mscxr_targets(n: int, rng: np.random.Generator) -> list[str]:
    """`n` categories: the paper's mix pulled halfway towards uniform, every category at least once."""
    total = sum(MSCXR_PAIRS.values())
    share = np.array([0.5 * MSCXR_PAIRS[c] / total + 0.5 / 8 for c in MS_CXR_CATEGORIES])
    counts = np.maximum(1, np.floor(share * n)).astype(int)
    while counts.sum() < n:
        counts[int(np.argmax(share * n - counts))] += 1
    while counts.sum() > n:
        counts[int(np.argmax(counts))] -= 1
    targets = [c for c, k in zip(MS_CXR_CATEGORIES, counts) for _ in range(k)]
    return [targets[i] for i in rng.permutation(len(targets))]


class _Planner:
    def __init__(self, seed: int, scale: Scale) -> None:
        self.rng = stream(seed, "mimic")
        self.ids = UniqueIds(stream(seed, "mimic-ids"))
        self.scale = scale
        self.studies: list[StudyPlan] = []

    def study(self, subject: str, sex: str, split: str, date: int, findings: list[Finding],
              size: tuple[int, int], keep_view: bool = False) -> StudyPlan:
        rng, sc = self.rng, self.scale
        view: str | None = "PA" if rng.random() < 0.65 else "AP"
        has_lateral = view == "PA" and rng.random() < sc.lateral_share / 0.65
        report = make_report(findings, rng, view, has_lateral, sex)
        if not keep_view and rng.random() < sc.missing_view_share:
            view = None
        heart = next((f.p("heart_half_width") for f in findings if f.category == "Cardiomegaly"), None)
        images = [ImagePlan(self.ids.dicom_id(), view, size, sample_anatomy(rng, heart))]
        if has_lateral:
            lateral_size = (sc.train_size, sc.train_size)
            images.append(ImagePlan(self.ids.dicom_id(), "LATERAL" if rng.random() < 0.8 else "LL",
                                    lateral_size, sample_anatomy(rng)))
        hours, minutes = float(rng.integers(0, 24)), float(rng.integers(0, 60))
        time = hours * 10000 + minutes * 100 + round(float(rng.uniform(0, 60)), 3)
        plan = StudyPlan(subject, self.ids.study_id(), split, sex, date, round(time, 3), findings, report, images)
        self.studies.append(plan)
        return plan

    def mimic_split(self, split: str, n_images: int) -> None:
        rng, size = self.rng, (self.scale.train_size, self.scale.train_size)
        done = 0
        while done < n_images:
            subject, sex = self.ids.subject_id(), "M" if rng.random() < 0.55 else "F"
            date = 21000101 + int(rng.integers(0, 90)) * 10000 + int(rng.integers(0, 12)) * 100
            for k in range(min(n_images - done, count_weights(rng, {1: 0.25, 2: 0.45, 3: 0.3}))):
                findings = sample_findings(rng, count_weights(rng, TRAIN_FINDING_COUNTS))
                self.study(subject, sex, split, date + k, findings, size)
                done += 1

    def mscxr(self, n_images: int) -> None:
        rng, sc = self.rng, self.scale
        targets = mscxr_targets(n_images, rng)
        sizes = [PORTRAIT] * sc.mscxr_full_size + [LANDSCAPE] * sc.mscxr_full_size
        sizes += [(sc.mscxr_size, sc.mscxr_size)] * (n_images - len(sizes))
        subjects: list[str] = []
        i, two_phrases = 0, False
        while i < n_images:
            subject, sex = self.ids.subject_id(), "M" if rng.random() < 0.55 else "F"
            subjects.append(subject)
            date = 21000101 + int(rng.integers(0, 90)) * 10000 + int(rng.integers(0, 12)) * 100
            for k in range(min(n_images - i, count_weights(rng, {1: 0.8, 2: 0.2}))):
                findings = sample_findings(rng, count_weights(rng, MSCXR_FINDING_COUNTS), must=targets[i])
                plan = self.study(subject, sex, "test", date + k, findings, sizes[i], keep_view=True)
                plan.mscxr_findings = [0]
                if len(findings) > 1 and (not two_phrases or rng.random() < 0.12):
                    plan.mscxr_findings.append(1)
                    two_phrases = True
                i += 1
        order = rng.permutation(len(subjects))
        n_train, n_val = round(0.7 * len(subjects)), round(0.15 * len(subjects))
        split_of = {subjects[j]: "train" if r < n_train else "val" if r < n_train + n_val else "test"
                    for r, j in enumerate(order)}
        for plan in self.studies:
            if plan.mscxr_findings:
                plan.mscxr_split = split_of[plan.subject_id]


def plan_mimic(seed: int, scale: Scale) -> list[StudyPlan]:
    """All MIMIC studies of the world (train, validate, test, then the MS-CXR part of test)."""
    planner = _Planner(seed, scale)
    planner.mimic_split("train", scale.train_images)
    planner.mimic_split("validate", scale.validate_images)
    planner.mimic_split("test", scale.test_images)
    planner.mscxr(scale.mscxr_images)
    return planner.studies
