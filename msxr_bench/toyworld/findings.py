"""Findings of the toy world: what is wrong, where (patient side and zone) and how much, plus the
resolution-independent numbers that draw it. Sampling keeps findings of one image apart.

Laterality is the patient's: "left" is drawn in the image's RIGHT half of a PA view (see `draw.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from msxr_bench.data.types import MS_CXR_CATEGORIES

PATCH_CATEGORIES = ("Pneumonia", "Consolidation", "Lung Opacity")
SIDES = ("left", "right")


@dataclass(frozen=True)
class Finding:
    """One finding. `zone` says where in the chest; `severity` is a size or degree word;
    `hard` marks deliberately subtle ones; `params` hold the drawing numbers (see draw.py)."""

    category: str
    side: str  # "left" | "right" | "bilateral" | "" (no side: the heart)
    zone: str  # upper|mid|lower|retrocardiac|basal|apical|lateral|perihilar|heart|box
    severity: str  # small|moderate|large (size) or mild|moderate|severe (degree)
    hard: bool = False
    hedge: bool = False  # reported with uncertainty ("could represent ...")
    params: dict = field(default_factory=dict, compare=False)

    def p(self, name: str, default: float = 0.0) -> float:
        return float(self.params.get(name, default))

    def cells(self) -> set[tuple[str, str]]:
        """The (side, zone) cells this finding occupies; findings of one image never share one."""
        sides = SIDES if self.side == "bilateral" else (self.side,)
        if self.category == "Cardiomegaly":
            return {("", "heart")}
        if self.zone == "retrocardiac":
            return {("left", "lower"), ("", "heart")}
        if self.category == "Edema":
            return {(s, z) for s in SIDES for z in ("mid", "edema")}
        if self.category == "Pneumothorax":
            zones = ("upper", "mid") if self.zone == "lateral" or self.severity == "large" else ("upper",)
            return {(s, z) for s in sides for z in zones}
        if self.category == "Pleural Effusion":
            zones = ("lower", "mid") if self.severity == "large" else ("lower",)
            return {(s, z) for s in sides for z in zones}
        if self.category == "Atelectasis":
            return {(s, "lower") for s in sides}
        if self.zone == "box":
            return set()
        return {(s, self.zone) for s in sides}

    def with_side(self, side: str) -> "Finding":
        return replace(self, side=side)


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def _pick(rng: np.random.Generator, options, p=None):
    """One of `options`, uniformly or with probabilities `p` (one uniform draw either way)."""
    r = rng.random()
    if p is None:
        return options[min(int(r * len(options)), len(options) - 1)]
    total, acc = float(sum(p)), 0.0
    for option, weight in zip(options, p):
        acc += weight / total
        if r < acc:
            return option
    return options[-1]


def sample_finding(rng: np.random.Generator, category: str) -> Finding:
    """Draw one finding of `category` with its place, severity and drawing numbers."""
    hard = bool(rng.random() < 0.15)
    params = {"seed": int(rng.integers(0, 2**31 - 1)), "jx": _u(rng, -1, 1), "jy": _u(rng, -1, 1)}
    side = _pick(rng, SIDES)
    if category in PATCH_CATEGORIES:
        zone = _pick(rng, ("upper", "mid", "lower", "retrocardiac"), p=(0.28, 0.24, 0.38, 0.10))
        if zone == "retrocardiac":
            side = "left"
        severity = _pick(rng, ("small", "moderate", "large"), p=(0.35, 0.4, 0.25))
        params["radius"] = {"small": 0.27, "moderate": 0.32, "large": 0.39}[severity] * _u(rng, 0.92, 1.08)
        params["aspect"] = _u(rng, 0.9, 1.35)
        base = {"Pneumonia": 0.24, "Consolidation": 0.30, "Lung Opacity": 0.19}[category]
        params["amp"] = base * (0.55 if hard else _u(rng, 0.9, 1.15))
        return Finding(category, side, zone, severity, hard, hedge=bool(rng.random() < 0.2), params=params)
    if category == "Atelectasis":
        zone = _pick(rng, ("basal", "retrocardiac"), p=(0.82, 0.18))
        side = "left" if zone == "retrocardiac" else _pick(rng, ("left", "right", "bilateral"), p=(0.35, 0.3, 0.35))
        severity = _pick(rng, ("mild", "moderate"), p=(0.5, 0.5))
        params.update(half_len=_u(rng, 0.31, 0.37), half_thick=_u(rng, 0.22, 0.26), tilt=_u(rng, -0.2, 0.2))
        params["amp"] = 0.11 if hard else _u(rng, 0.20, 0.26)
        return Finding(category, side, zone, severity, hard, hedge=bool(rng.random() < 0.15), params=params)
    if category == "Pleural Effusion":
        side = _pick(rng, ("left", "right", "bilateral"), p=(0.35, 0.35, 0.30))
        severity = _pick(rng, ("small", "moderate", "large"), p=(0.35, 0.45, 0.2))
        params["depth"] = {"small": 0.34, "moderate": 0.46, "large": 0.66}[severity] * _u(rng, 0.92, 1.08)
        params["meniscus"] = _u(rng, 0.12, 0.22)
        params["amp"] = 0.24 if hard else _u(rng, 0.33, 0.40)
        return Finding(category, side, "basal", severity, hard, params=params)
    if category == "Pneumothorax":
        zone = _pick(rng, ("apical", "lateral"), p=(0.65, 0.35))
        severity = "small" if hard else _pick(rng, ("small", "moderate", "large"), p=(0.25, 0.45, 0.3))
        params["gap"] = {"small": 0.11, "moderate": 0.18, "large": 0.27}[severity] * _u(rng, 0.92, 1.08)
        params["amp"] = 0.07 if hard else _u(rng, 0.11, 0.14)
        return Finding(category, side, zone, severity, hard or severity == "small", params=params)
    if category == "Cardiomegaly":
        severity = _pick(rng, ("mild", "moderate", "severe"), p=(0.35, 0.4, 0.25))
        params["heart_half_width"] = {"mild": 0.49, "moderate": 0.53, "severe": 0.58}[severity] * _u(rng, 0.97, 1.03)
        return Finding(category, "", "heart", severity, hard, params=params)
    if category == "Edema":
        severity = _pick(rng, ("mild", "moderate", "severe"), p=(0.35, 0.4, 0.25))
        params["amp"] = {"mild": 0.12, "moderate": 0.16, "severe": 0.2}[severity] * _u(rng, 0.9, 1.1)
        params["one_box"] = float(rng.random() < 0.3)
        return Finding(category, "bilateral", "perihilar", severity, hard, hedge=bool(rng.random() < 0.2),
                       params=params)
    raise ValueError(f"unknown finding category {category!r}; expected one of {MS_CXR_CATEGORIES}")


def sample_findings(
    rng: np.random.Generator,
    n: int,
    categories: tuple[str, ...] = MS_CXR_CATEGORIES,
    must: str | None = None,
) -> list[Finding]:
    """Up to `n` findings of distinct categories that occupy disjoint chest cells (`must` first)."""
    chosen: list[Finding] = []
    used: set[tuple[str, str]] = set()
    order = [must] if must else []
    order += [categories[i] for i in rng.permutation(len(categories)) if categories[i] != must]
    for category in order:
        if len(chosen) >= n:
            break
        for _ in range(6):  # a few tries to find a free place for this category
            finding = sample_finding(rng, category)
            if not (finding.cells() & used):
                chosen.append(finding)
                used |= finding.cells()
                break
    return chosen


def count_weights(rng: np.random.Generator, weights: dict[int, float]) -> int:
    """A count drawn with the given weights ({count: weight})."""
    counts = sorted(weights)
    return _pick(rng, counts, [weights[c] for c in counts])
