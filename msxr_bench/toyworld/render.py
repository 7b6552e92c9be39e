"""Rendering: anatomy + findings -> an 8-bit grayscale image of the requested size, and the
findings' boxes measured on it (pixels of that image, top-left x, y, width, height)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter

from msxr_bench.toyworld.anatomy import (
    Anatomy, Frame, base_scene, ellipse_radius, make_frame, smooth_noise, soft,
)
from msxr_bench.toyworld.draw import paint
from msxr_bench.toyworld.findings import Finding

BoxXYWH = tuple[float, float, float, float]


@dataclass
class Rendered:
    pixels: np.ndarray  # uint8 [H, W]
    boxes: list[list[BoxXYWH]]  # per finding, its boxes in image pixels


def mask_box(mask: np.ndarray, f: Frame) -> BoxXYWH:
    """Bounding box of a working-grid mask in pixels of the (H, W) image."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        raise RuntimeError("a finding painted nothing inside the image; its box is undefined")
    h, w = f.shape
    sx, sy = f.W / w, f.H / h
    x0, x1 = cols[0] * sx, (cols[-1] + 1) * sx
    y0, y1 = rows[0] * sy, (rows[-1] + 1) * sy
    return (round(x0, 2), round(y0, 2), round(x1 - x0, 2), round(y1 - y0, 2))


def finish(density: np.ndarray, anat: Anatomy, f: Frame, rng: np.random.Generator) -> np.ndarray:
    """Blur, noise, tone map (contrast + gamma), resize to (H, W) and quantise to uint8."""
    d = gaussian_filter(density, 0.6 * max(1.0, f.px_per_unit / 100.0), mode="nearest")
    d += anat.noise * (0.018 * smooth_noise(rng, f.shape, 3.0) + 0.004 * rng.standard_normal(f.shape, dtype=np.float32))
    t = np.clip(d / 0.78, 0.0, 1.0) ** anat.gamma
    grey = (anat.black + (anat.white - anat.black) * t).astype(np.float32)
    h, w = f.shape
    if (h, w) != (f.H, f.W):
        grey = np.asarray(Image.fromarray(grey, mode="F").resize((f.W, f.H), Image.BICUBIC))
    return np.clip(np.rint(grey), 0, 255).astype(np.uint8)


def render_frontal(anat: Anatomy, findings: list[Finding], H: int, W: int) -> Rendered:
    """A PA/AP view with the given findings; boxes per finding (empty list for `box` findings,
    whose boxes are given)."""
    f = make_frame(anat, H, W)
    sc = base_scene(anat, f)
    density = sc.density.copy()
    boxes: list[list[BoxXYWH]] = []
    for finding in findings:
        delta, masks = paint(sc, finding)
        density += delta
        boxes.append([mask_box(m, f) for m in masks])
    return Rendered(finish(density, anat, f, sc.rng), boxes)


def render_lateral(anat: Anatomy, H: int, W: int) -> np.ndarray:
    """A lateral view: anterior to the image left, spine posterior (image right), one lung field."""
    f = make_frame(anat, H, W)
    rng = np.random.default_rng(anat.seed)
    u, v = f.u, f.v
    body = soft(1.0 - ellipse_radius(f, 0.05, 0.3, 0.78, 1.5), 0.03)
    lung = soft(1.0 - ellipse_radius(f, 0.02, -0.1, 0.55, 0.72), 0.04)
    lung *= soft(anat.dome_right + 0.1 + 0.25 * u - v, 0.03)
    heart = soft(1.0 - ellipse_radius(f, -0.28, anat.heart_cv + 0.05, 0.3, 0.3), 0.03)
    spine = soft(0.11 - np.abs(u - 0.6 - 0.1 * v), 0.02) * (0.6 + 0.4 * soft(np.cos(2 * np.pi * v / 0.2), 0.3))
    density = 0.04 + 0.52 * body - 0.28 * lung * (1 - 0.8 * heart) + 0.12 * heart + 0.12 * spine * body
    density += 0.025 * smooth_noise(rng, f.shape, 1.2) * lung
    return finish(density.astype(np.float32), anat, f, rng)
