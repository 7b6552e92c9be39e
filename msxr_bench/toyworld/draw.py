"""Painters of the eight MS-CXR findings: each adds density to a Scene and returns the masks of
its boxes (one mask per box), from which the boxes are measured on the image actually drawn.

Opacities add density (brighter); a pneumothorax removes lung markings and adds air (darker) with
a thin visceral pleural line. Side "left" (patient) paints at u > 0, the image's right half.
"""

from __future__ import annotations

import numpy as np

from msxr_bench.toyworld.anatomy import (
    Scene, dome, ellipse_radius, hemithorax, side_sign, smooth_noise, soft,
)
from msxr_bench.toyworld.findings import PATCH_CATEGORIES, Finding

Painted = tuple[np.ndarray, list[np.ndarray]]  # density delta [h, w], box masks (bool [h, w])


def _texture(sc: Scene, f: Finding, sigma_units: float) -> np.ndarray:
    rng = np.random.default_rng(int(f.params["seed"]))
    return smooth_noise(rng, sc.frame.shape, max(0.7, sigma_units * sc.frame.px_per_unit))


def _irregular_radius(sc: Scene, f: Finding, r: np.ndarray, amount: float) -> np.ndarray:
    return r * (1.0 + amount * _texture(sc, f, 0.08))


def patch(sc: Scene, f: Finding) -> Painted:
    """Pneumonia / Consolidation / Lung Opacity: a textured bright patch inside a lung zone."""
    a, fr = sc.anat, sc.frame
    s = side_sign(f.side)
    if f.zone == "retrocardiac":
        cu, cv = 0.3 + 0.03 * f.p("jx"), a.heart_cv - 0.02 + 0.03 * f.p("jy")
    else:
        rel_v = {"upper": -0.52, "mid": -0.05, "lower": 0.42}[f.zone] + 0.06 * f.p("jy")
        cu, cv = s * (a.lung_cx + 0.06 * f.p("jx") * a.lung_a), a.lung_cy + rel_v * a.lung_b
    ru = max(f.p("radius"), 0.33) if f.zone == "retrocardiac" else f.p("radius")
    rv = ru * f.p("aspect", 1.0)
    r = _irregular_radius(sc, f, ellipse_radius(fr, cu, cv, ru, rv), 0.15)
    edge = {"Pneumonia": 0.12, "Consolidation": 0.07, "Lung Opacity": 0.22}[f.category]
    behind_heart = 1.0 - (0.5 if f.zone == "retrocardiac" else 0.6) * sc.heart
    blob = soft(1.0 - r, edge) * sc.lungs[s] * behind_heart
    texture = _texture(sc, f, 0.025)
    grain = {"Pneumonia": 0.35, "Consolidation": 0.12, "Lung Opacity": 0.2}[f.category]
    delta = f.p("amp") * blob * np.clip(1.0 + grain * texture, 0.2, 1.8)
    return delta, [blob > 0.4]


def band(sc: Scene, f: Finding) -> Painted:
    """Atelectasis: band-like (plate) opacity above a hemidiaphragm, or a retrocardiac wedge."""
    a, fr = sc.anat, sc.frame
    if f.zone == "retrocardiac":
        cu, cv = 0.3 + 0.03 * f.p("jx"), a.heart_cv + 0.03 * f.p("jy")
        wedge = soft(1.0 - ellipse_radius(fr, cu, cv, 0.3, 0.26), 0.05) * sc.lungs[1.0]
        return f.p("amp") * wedge * (1.0 - 0.5 * sc.heart), [wedge > 0.4]
    deltas, masks = [], []
    for side in (("left", "right") if f.side == "bilateral" else (f.side,)):
        s = side_sign(side)
        cu = s * (a.lung_cx + 0.05 * f.p("jx"))
        top = a.dome_left if s > 0 else a.dome_right
        centre_v = top - 0.2 + 0.03 * f.p("jy") + f.p("tilt") * s * (fr.u - cu)
        across = np.abs(fr.v - centre_v) / f.p("half_thick")
        along = np.abs(fr.u - cu) / f.p("half_len")
        shape = soft(1.0 - np.sqrt(across**2 + along**4), 0.08) * sc.lungs[s]
        plate = np.exp(-((fr.v - centre_v) / (0.3 * f.p("half_thick"))) ** 2) * shape
        deltas.append(f.p("amp") * (0.75 * shape + 0.5 * plate) * (1.0 - 0.6 * sc.heart))
        masks.append(shape > 0.4)
    return sum(deltas), masks


def effusion(sc: Scene, f: Finding) -> Painted:
    """Pleural effusion: dense basal fill with a meniscus rising laterally; blunts the angle."""
    a, fr = sc.anat, sc.frame
    deltas, masks = [], []
    for side in (("left", "right") if f.side == "bilateral" else (f.side,)):
        s = side_sign(side)
        top = a.dome_left if s > 0 else a.dome_right
        lateral = np.clip((s * fr.u - (a.lung_cx - a.lung_a)) / (2 * a.lung_a), 0.0, 1.0)
        level = top + 0.06 - f.p("depth") - f.p("meniscus") * lateral**2
        space = hemithorax(sc.anat, fr, s, extra_bottom=0.12) * soft(dome(a, fr, s) - fr.v, 0.02)
        fill = space * soft(fr.v - level, 0.025)
        gradient = 0.8 + 0.2 * np.clip((fr.v - level) / max(f.p("depth"), 0.1), 0.0, 1.0)
        deltas.append(f.p("amp") * fill * gradient * (1.0 - 0.6 * sc.heart))
        masks.append(fill > 0.5)
    return sum(deltas), masks


def pneumothorax(sc: Scene, f: Finding) -> Painted:
    """Pneumothorax: air without lung markings between chest wall and a thin pleural line."""
    a, fr = sc.anat, sc.frame
    s = side_sign(f.side)
    g = f.p("gap")
    lateral = f.zone == "lateral"
    cu = s * (a.lung_cx - (0.75 if lateral else 0.2) * g)
    cv = a.lung_cy + (0.25 if lateral else 0.75) * g
    ca, cb = a.lung_a - (0.75 if lateral else 0.35) * g, a.lung_b - (0.35 if lateral else 0.8) * g
    r_collapsed = ellipse_radius(fr, cu, cv, ca, cb)
    if lateral:
        window = soft(s * (fr.u - cu), 0.04) * soft(a.lung_cy + 0.45 * a.lung_b - fr.v, 0.04)
    else:
        window = soft(a.lung_cy - (0.05 if f.severity == "large" else 0.3) * a.lung_b - fr.v, 0.04)
    lung = sc.lungs[s]
    region = lung * soft(r_collapsed - 1.0, 0.015) * window
    line = np.exp(-(((r_collapsed - 1.0) * min(ca, cb)) / 0.012) ** 2) * lung * window
    delta = -f.p("amp") * region - sc.markings * region + 0.6 * f.p("amp") * line
    return delta, [region > 0.5]


def cardiomegaly(sc: Scene, f: Finding) -> Painted:
    """Cardiomegaly: the anatomy already drew a wide heart; the box is the heart above the diaphragm."""
    a, fr = sc.anat, sc.frame
    heart_box = (sc.heart > 0.5) & (fr.v < max(a.dome_left, a.dome_right) + 0.12)
    return np.zeros_like(sc.density), [heart_box]


def edema(sc: Scene, f: Finding) -> Painted:
    """Edema: hazy bilateral perihilar density with fine reticular texture."""
    a, fr = sc.anat, sc.frame
    texture = np.clip(1.0 + 0.12 * _texture(sc, f, 0.012), 0.5, 1.5)
    blobs = []
    for s in (-1.0, 1.0):
        r = _irregular_radius(sc, f, ellipse_radius(fr, s * 0.3, a.lung_cy + 0.1, 0.3, 0.42), 0.05)
        blobs.append(soft(1.0 - r, 0.25) * sc.lungs[s] * (1.0 - 0.6 * sc.heart))
    haze = blobs[0] + blobs[1]
    delta = f.p("amp") * haze * texture
    masks = [b > 0.4 for b in blobs]
    if f.p("one_box") > 0.5:
        masks = [masks[0] | masks[1]]
    return delta, masks


def box_patch(sc: Scene, f: Finding) -> Painted:
    """An opacity filling a given box (RSNA boxes taken from real labels); params hold the box
    as fractions of the image: bx, by, bw, bh."""
    fr = sc.frame
    h, w = fr.shape
    ys = (np.arange(h, dtype=np.float32)[:, None] + 0.5) / h
    xs = (np.arange(w, dtype=np.float32)[None, :] + 0.5) / w
    cx, cy = f.p("bx") + f.p("bw") / 2, f.p("by") + f.p("bh") / 2
    r = np.sqrt(((xs - cx) / (0.5 * f.p("bw"))) ** 2 + ((ys - cy) / (0.5 * f.p("bh"))) ** 2)
    blob = soft(1.0 - _irregular_radius(sc, f, r, 0.1), 0.15)
    delta = f.p("amp") * blob * np.clip(1.0 + 0.35 * _texture(sc, f, 0.025), 0.2, 1.8)
    return delta, []


def paint(sc: Scene, f: Finding) -> Painted:
    if f.zone == "box":
        return box_patch(sc, f)
    if f.category in PATCH_CATEGORIES:
        return patch(sc, f)
    painter = {"Atelectasis": band, "Pleural Effusion": effusion, "Pneumothorax": pneumothorax,
               "Cardiomegaly": cardiomegaly, "Edema": edema}[f.category]
    return painter(sc, f)
