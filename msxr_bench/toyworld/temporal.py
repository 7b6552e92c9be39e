"""The temporal part of the toy world (MS-CXR-T and the BioViL-T recipe's training pairs): subjects with a prior and
a current frontal study of the same chest, in which each temporal finding grows, shrinks or stays; the current
report states the change (`temporal_reports.py`). Nothing is drawn here (`writers/mscxrt.py` draws).

A finding has a size level 0..4 (`LEVELS` scales its drawing numbers); the current level is 1, 2 or 3 whatever the
progression, and the prior's is one more (improving), the same (stable) or one less (worsening). So the current
image alone says nothing about the progression: only the pair does. Own RNG streams ("mscxr-t", "mscxr-t-ids"),
ids disjoint from the rest of the world: every other file of the world is unchanged by this part.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

import numpy as np

from msxr_bench.toyworld.anatomy import Anatomy, sample_anatomy
from msxr_bench.toyworld.findings import Finding, sample_finding
from msxr_bench.toyworld.ids import UniqueIds
from msxr_bench.toyworld.plan import ImagePlan, StudyPlan, stream
from msxr_bench.toyworld.reports import make_report
from msxr_bench.toyworld.scales import Scale
from msxr_bench.toyworld.temporal_reports import temporal_report

# MS-CXR-T finding -> the world's category
TEMPORAL_CATEGORIES = {"consolidation": "Consolidation", "edema": "Edema", "pleural_effusion": "Pleural Effusion",
                       "pneumonia": "Pneumonia", "pneumothorax": "Pneumothorax"}
PROGRESSIONS = ("improving", "stable", "worsening")
PRIOR_SHIFT = {"improving": 1, "stable": 0, "worsening": -1}  # prior level = current level + shift
LEVELS = (0.45, 0.7, 1.0, 1.4, 1.85)  # size/density factor of levels 0..4
LABEL_QUALITIES = ("one_expert", "multiple_experts")  # written to the MS-CXR-T CSV (vocabulary unverified)
EPOCH = dt.date(2100, 1, 1)  # MIMIC dates are shifted into the 22nd century


@dataclass
class TemporalFinding:
    finding: str  # MS-CXR-T name (TEMPORAL_CATEGORIES key)
    progression: str
    current_level: int
    current: Finding
    prior: Finding
    label_quality: str


@dataclass
class TemporalSubject:
    subject_id: str
    split: str  # MIMIC split of all its studies
    mscxrt: bool  # listed in the MS-CXR-T classification CSV (else a training subject)
    studies: list[StudyPlan]  # oldest first: [earlier study], prior, current
    changes: list[TemporalFinding]

    @property
    def current(self) -> StudyPlan:
        return self.studies[-1]

    @property
    def prior(self) -> StudyPlan:
        return self.studies[-2]


def at_level(f: Finding, level: int) -> Finding:
    """The finding drawn at size level `level` (its place, texture and side unchanged)."""
    k, p = LEVELS[level], dict(f.params)
    size = ("small", "small", "moderate", "large", "large")[level]
    if f.category in ("Pneumonia", "Consolidation"):
        p["radius"], p["amp"] = 0.29 * k ** 0.6, {"Pneumonia": 0.26, "Consolidation": 0.32}[f.category] * k ** 0.6
    elif f.category == "Pleural Effusion":
        p["depth"], p["amp"] = 0.38 * k, 0.36 * min(1.25, k ** 0.5)
    elif f.category == "Pneumothorax":
        p["gap"], p["amp"] = 0.15 * k, 0.13
    elif f.category == "Edema":
        p["amp"], size = 0.14 * k, ("mild", "mild", "moderate", "severe", "severe")[level]
    else:
        raise ValueError(f"{f.category} has no temporal levels")
    return replace(f, severity=size, hard=False, hedge=False, params=p)


def _findings(rng: np.random.Generator) -> list[TemporalFinding]:
    """One temporal finding, a second one in a chest cell of its own a quarter of the time."""
    names = list(TEMPORAL_CATEGORIES)
    chosen: list[TemporalFinding] = []
    used: set[tuple[str, str]] = set()
    for name in [names[int(rng.integers(len(names)))]] + ([names[int(rng.integers(len(names)))]]
                                                          if rng.random() < 0.25 else []):
        base = sample_finding(rng, TEMPORAL_CATEGORIES[name])
        if base.zone == "retrocardiac":
            base = replace(base, zone="lower")
        progression = PROGRESSIONS[int(rng.integers(3))]
        level = int(rng.integers(1, 4))
        current, prior = at_level(base, level), at_level(base, level + PRIOR_SHIFT[progression])
        cells = at_level(base, 4).cells() | current.cells()
        if name in {c.finding for c in chosen} or cells & used:
            continue
        used |= cells
        chosen.append(TemporalFinding(name, progression, level, current, prior,
                                      LABEL_QUALITIES[int(rng.random() < 0.3)]))
    return chosen


def _prior_anatomy(rng: np.random.Generator, anat: Anatomy) -> Anatomy:
    """The same chest imaged another day: slightly shifted, another exposure and noise."""
    u = lambda lo, hi: float(rng.uniform(lo, hi))  # noqa: E731
    return replace(anat, dx=anat.dx + u(-0.012, 0.012), dy=anat.dy + u(-0.012, 0.012), gamma=anat.gamma * u(0.93, 1.07),
                   black=min(20.0, max(0.0, anat.black + u(-3, 3))), white=min(255.0, anat.white + u(-8, 0)),
                   noise=anat.noise * u(0.85, 1.15), seed=int(rng.integers(0, 2**31 - 1)))


def _stamp(rng: np.random.Generator, day: dt.date) -> tuple[int, float]:
    time = float(rng.integers(0, 24)) * 10000 + float(rng.integers(0, 60)) * 100 + round(float(rng.uniform(0, 60)), 3)
    return int(day.strftime("%Y%m%d")), round(time, 3)


class _TemporalPlanner:
    def __init__(self, seed: int, scale: Scale, existing: list[StudyPlan]) -> None:
        self.rng, self.scale = stream(seed, "mscxr-t"), scale
        self.ids = UniqueIds(stream(seed, "mscxr-t-ids"))
        self.ids.seen |= {i for s in existing for i in (s.subject_id, s.study_id, *(im.dicom_id for im in s.images))}

    def _study(self, subject: str, sex: str, split: str, stamp: tuple[int, float], findings: list[Finding],
               anatomy: Anatomy, report, view: str, lateral: bool) -> StudyPlan:
        size = (self.scale.train_size, self.scale.train_size)
        images = [ImagePlan(self.ids.dicom_id(), view, size, anatomy)]
        if lateral:
            images.append(ImagePlan(self.ids.dicom_id(), "LATERAL", size, sample_anatomy(self.rng)))
        return StudyPlan(subject, self.ids.study_id(), split, sex, stamp[0], stamp[1], findings, report, images)

    def subject(self, split: str, mscxrt: bool) -> TemporalSubject:
        rng = self.rng
        subject, sex = self.ids.subject_id(), "M" if rng.random() < 0.55 else "F"
        changes = _findings(rng)
        static = [sample_finding(rng, "Cardiomegaly")] if rng.random() < 0.3 else []
        heart = static[0].p("heart_half_width") if static else None
        anatomy = sample_anatomy(rng, heart)
        current_day = EPOCH + dt.timedelta(days=int(rng.integers(0, 90 * 365)))
        same_day = rng.random() < 0.15  # a prior taken earlier the same day: ordered by StudyTime
        prior_day = current_day - dt.timedelta(days=0 if same_day else int(rng.integers(1, 400)))
        current_stamp, prior_stamp = _stamp(rng, current_day), _stamp(rng, prior_day)
        if same_day and prior_stamp[1] >= current_stamp[1]:
            prior_stamp, current_stamp = current_stamp, prior_stamp
        if prior_stamp == current_stamp:
            current_stamp = (current_stamp[0], round(current_stamp[1] + 1.0, 3))
        studies = []
        if rng.random() < 0.25:  # an older study too: "the previous study" is not just "an earlier one"
            old = [c.prior for c in changes] + static
            old_stamp = _stamp(rng, prior_day - dt.timedelta(days=int(rng.integers(1, 400))))
            view = "PA" if rng.random() < 0.65 else "AP"
            studies.append(self._study(subject, sex, split, old_stamp, old, _prior_anatomy(rng, anatomy),
                                       make_report(old, rng, view, False, sex), view, False))
        prior = [c.prior for c in changes] + static
        view = "PA" if rng.random() < 0.65 else "AP"
        lateral = view == "PA" and rng.random() < 0.3
        studies.append(self._study(subject, sex, split, prior_stamp, prior, _prior_anatomy(rng, anatomy),
                                   make_report(prior, rng, view, lateral, sex), view, lateral))
        view = "PA" if rng.random() < 0.65 else "AP"
        current = [c.current for c in changes] + static
        report = temporal_report(changes, static, rng, view, sex)
        studies.append(self._study(subject, sex, split, current_stamp, current, anatomy, report, view, False))
        return TemporalSubject(subject, split, mscxrt, studies, changes)


def plan_temporal(seed: int, scale: Scale, existing: list[StudyPlan]) -> list[TemporalSubject]:
    """Training subjects (MIMIC `train`) then MS-CXR-T subjects: a tenth in MIMIC `validate`, `mscxrt_train_share`
    in `train`, the rest in `test` (the real MS-CXR-T rows are spread over the MIMIC split), in a seeded order."""
    planner = _TemporalPlanner(seed, scale, existing)
    subjects = [planner.subject("train", False) for _ in range(scale.temporal_train_subjects)]
    n = scale.mscxrt_subjects
    n_train, n_val = round(scale.mscxrt_train_share * n), round(0.1 * n)
    splits = ["train"] * n_train + ["validate"] * n_val + ["test"] * (n - n_train - n_val)
    for j in planner.rng.permutation(n):
        subjects.append(planner.subject(splits[j], True))
    return subjects
