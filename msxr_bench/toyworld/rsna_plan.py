"""The plan of the RSNA Pneumonia part of a world: image ids, classes, opacities, DICOM encodings.

Positives carry 1-3 pneumonia opacities in lung zones (or, with real label files, at real RSNA box
positions); "No Lung Opacity / Not Normal" negatives carry other findings (heart, effusion,
pneumothorax); "Normal" ones none.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from msxr_bench.data.types import DatasetFormatError
from msxr_bench.toyworld.anatomy import Anatomy, sample_anatomy
from msxr_bench.toyworld.findings import Finding, count_weights, sample_finding, sample_findings
from msxr_bench.toyworld.ids import UniqueIds
from msxr_bench.toyworld.plan import stream
from msxr_bench.toyworld.scales import Scale

RSNA_SIZE = 1024
CLASSES = ("Lung Opacity", "No Lung Opacity / Not Normal", "Normal")
PIXEL_SPACINGS = ("0.143", "0.168", "0.139", "0.171", "0.194311")
ENCODINGS = ("jpeg", "monochrome1", "int16")  # JPEG baseline MONOCHROME2 / JPEG MONOCHROME1 / 16-bit RLE


@dataclass
class RsnaPlan:
    patient_id: str
    klass: str
    findings: list[Finding]
    anatomy: Anatomy
    view: str  # PA | AP
    sex: str
    age: int
    pixel_spacing: str
    encoding: str
    real_boxes: list[tuple[float, float, float, float]] | None = None  # given boxes (real RSNA positions)

    @property
    def target(self) -> int:
        return int(self.klass == "Lung Opacity")


def read_real_boxes(path: Path) -> list[list[tuple[float, float, float, float]]]:
    """Box lists of the positive images of a real `stage_2_train_labels.csv(.zip)`, sorted by id."""
    try:
        df = pd.read_csv(path)
    except Exception as exc:  # noqa: BLE001 - any read failure is a format error of this file
        raise DatasetFormatError(f"{path}: cannot read as an RSNA label CSV ({exc})") from exc
    needed = {"patientId", "x", "y", "width", "height", "Target"}
    if missing := needed - set(df.columns):
        raise DatasetFormatError(f"{path}: missing columns {sorted(missing)} of stage_2_train_labels.csv")
    pos = df[df["Target"] == 1].sort_values("patientId", kind="stable")
    if pos.empty:
        raise DatasetFormatError(f"{path}: no rows with Target == 1")
    return [list(g[["x", "y", "width", "height"]].itertuples(index=False, name=None))
            for _, g in pos.groupby("patientId", sort=True)]


def _opacities(rng: np.random.Generator, n: int, amp: tuple[float, float] = (0.24, 0.3)) -> list[Finding]:
    """`n` clearly visible pneumonia opacities in distinct lung zones (Kaggle boxed visible opacities)."""
    chosen: list[Finding] = []
    used: set = set()
    while len(chosen) < n:
        f = sample_finding(rng, "Pneumonia")
        if f.zone != "retrocardiac" and not (f.cells() & used):
            chosen.append(replace(f, hard=False, params={**f.params, "amp": float(rng.uniform(*amp))}))
            used |= f.cells()
    return chosen


def plan_rsna(seed: int, scale: Scale, real_boxes_file: Path | None = None) -> list[RsnaPlan]:
    rng, ids = stream(seed, "rsna"), UniqueIds(stream(seed, "rsna-ids"))
    real = read_real_boxes(real_boxes_file) if real_boxes_file else None
    n = scale.rsna_images
    n_pos = round(n * scale.rsna_positive_share)
    n_mono1 = min(20, max(2, n // 50))
    n_int16 = min(20, max(1, n // 50))  # lossless 16-bit files are large: one at the tiny scale
    order = rng.permutation(n)
    encoding = {int(i): ENCODINGS[1] for i in order[:n_mono1]}
    encoding.update({int(i): ENCODINGS[2] for i in order[n_mono1:n_mono1 + n_int16]})
    positives = set(int(i) for i in rng.permutation(n)[:n_pos])
    plans = []
    for i in range(n):
        boxes = None
        if i in positives:
            klass = CLASSES[0]
            if real is not None:
                boxes = [tuple(float(v) for v in b) for b in real[int(rng.integers(len(real)))]]
                findings = [Finding("Pneumonia", "", "box", "moderate", params={
                    "seed": int(rng.integers(2**31 - 1)), "bx": x / RSNA_SIZE, "by": y / RSNA_SIZE,
                    "bw": w / RSNA_SIZE, "bh": h / RSNA_SIZE, "amp": float(rng.uniform(0.18, 0.26))})
                    for x, y, w, h in boxes]
            else:
                findings = _opacities(rng, count_weights(rng, {1: 0.42, 2: 0.55, 3: 0.03}), scale.rsna_opacity_amp)
        elif rng.random() < 0.55:
            klass = CLASSES[1]
            cats = ("Cardiomegaly", "Pleural Effusion", "Pneumothorax")
            findings = sample_findings(rng, count_weights(rng, {1: 0.7, 2: 0.3}), categories=cats)
        else:
            klass, findings = CLASSES[2], []
        heart = next((f.p("heart_half_width") for f in findings if f.category == "Cardiomegaly"), None)
        view = "AP" if rng.random() < (0.75 if klass == CLASSES[0] else 0.4) else "PA"
        plans.append(RsnaPlan(
            patient_id=ids.rsna_patient_id(), klass=klass, findings=findings, anatomy=sample_anatomy(rng, heart),
            view=view, sex="M" if rng.random() < 0.57 else "F", age=int(rng.integers(18, 91)),
            pixel_spacing=PIXEL_SPACINGS[int(rng.integers(len(PIXEL_SPACINGS)))],
            encoding=encoding.get(i, ENCODINGS[0]), real_boxes=boxes,
        ))
    return plans
