"""The normal chest of the toy world: per-image anatomy numbers, the coordinate frame and the base
density (body, lungs, mediastinum, heart, diaphragm, ribs, clavicles, spine, lung markings).

Coordinates are chest units: u to the image's right, v down, origin at the chest centre; one unit is
`k * min(H, W)` pixels, so the same anatomy renders identically at any image size. The patient's left
lung has u > 0 (image right), as on a PA radiograph.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter

WORK_LONG_SIDE = 256  # images are drawn on a grid whose long side is at most this, then resized


@dataclass(frozen=True)
class Anatomy:
    k: float  # pixels per chest unit / min(H, W)
    dx: float  # shift of the chest centre, in units of min(H, W)
    dy: float
    lung_cx: float  # lung centres at (+-lung_cx, lung_cy)
    lung_cy: float
    lung_a: float  # half-width and half-height of each lung
    lung_b: float
    dome_right: float  # v of the top of each hemidiaphragm (right is higher)
    dome_left: float
    heart_half_width: float
    heart_cv: float
    rib_period: float
    rib_phase: float
    gamma: float
    black: float  # grey level of empty background
    white: float  # grey level of density 1
    noise: float
    seed: int


def sample_anatomy(rng: np.random.Generator, heart_half_width: float | None = None) -> Anatomy:
    """Per-image jitter of position, scale, shape, contrast and gamma."""
    u = lambda lo, hi: float(rng.uniform(lo, hi))  # noqa: E731
    dome_right = u(0.36, 0.44)
    return Anatomy(
        k=u(0.385, 0.425), dx=u(-0.025, 0.025), dy=u(-0.03, 0.03),
        lung_cx=u(0.46, 0.49), lung_cy=u(-0.17, -0.11), lung_a=u(0.31, 0.34), lung_b=u(0.66, 0.72),
        dome_right=dome_right, dome_left=dome_right + u(0.03, 0.08),
        heart_half_width=heart_half_width if heart_half_width is not None else u(0.33, 0.38),
        heart_cv=u(0.18, 0.23), rib_period=u(0.17, 0.21), rib_phase=u(0, 1),
        gamma=u(0.8, 1.25), black=u(0, 14), white=u(228, 255), noise=u(0.7, 1.3),
        seed=int(rng.integers(0, 2**31 - 1)),
    )


@dataclass(frozen=True)
class Frame:
    """Chest coordinates of the working grid of an (H, W) image."""

    u: np.ndarray  # [1, w]
    v: np.ndarray  # [h, 1]
    H: int
    W: int
    px_per_unit: float  # working-grid pixels per chest unit

    @property
    def shape(self) -> tuple[int, int]:
        return self.v.shape[0], self.u.shape[1]


def make_frame(anat: Anatomy, H: int, W: int, work_long: int = WORK_LONG_SIDE) -> Frame:
    r = min(1.0, work_long / max(H, W))
    h, w = max(8, round(H * r)), max(8, round(W * r))
    m = min(H, W)
    scale = anat.k * m
    xs = (np.arange(w, dtype=np.float32) + 0.5) * (W / w)
    ys = (np.arange(h, dtype=np.float32) + 0.5) * (H / h)
    u = ((xs - W / 2 - anat.dx * m) / scale)[None, :]
    v = ((ys - H / 2 - anat.dy * m) / scale)[:, None]
    return Frame(u=u, v=v, H=H, W=W, px_per_unit=scale * w / W)


def soft(x: np.ndarray, edge: float) -> np.ndarray:
    """Smooth step: 1 where x >> 0, 0 where x << 0, width `edge` (chest units)."""
    return 0.5 * (1.0 + np.tanh(x / edge)).astype(np.float32)


def ellipse_radius(f: Frame, cu: float, cv: float, a: float, b: float) -> np.ndarray:
    return np.sqrt(((f.u - cu) / a) ** 2 + ((f.v - cv) / b) ** 2)


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Gaussian-filtered white noise with unit standard deviation and correlation length `sigma`
    pixels (for wide kernels drawn on a coarser grid and resized bicubically, which is faster)."""
    step = int(min(4, max(1, sigma // 1.0)))
    h, w = shape
    coarse = rng.standard_normal((-(-h // step), -(-w // step)), dtype=np.float32)
    n = gaussian_filter(coarse, sigma / step, mode="reflect", truncate=3.0)
    if step > 1:
        n = np.asarray(Image.fromarray(n, mode="F").resize((w, h), Image.BICUBIC))
    return n / (n.std() + 1e-6)


def side_sign(side: str) -> float:
    """+1 for the patient's left (image right on PA), -1 for the patient's right."""
    if side == "left":
        return 1.0
    if side == "right":
        return -1.0
    raise ValueError(f"side must be 'left' or 'right', got {side!r}")


def dome(anat: Anatomy, f: Frame, s: float) -> np.ndarray:
    """v of the hemidiaphragm of side s along u (a parabola, lowest laterally)."""
    top = anat.dome_left if s > 0 else anat.dome_right
    return top + 0.22 * ((f.u - s * anat.lung_cx * 0.95) / 0.42) ** 2


def hemithorax(anat: Anatomy, f: Frame, s: float, extra_bottom: float = 0.0) -> np.ndarray:
    """Soft mask of one lung's outline (tapering apex), not cut by the diaphragm."""
    cu, cv = s * anat.lung_cx, anat.lung_cy + extra_bottom / 2
    b = anat.lung_b + extra_bottom / 2
    taper = 1.0 - 0.28 * np.clip((cv - f.v) / b, 0.0, 1.0)
    r = np.sqrt(((f.u - cu) / (anat.lung_a * taper)) ** 2 + ((f.v - cv) / b) ** 2)
    return soft(1.0 - r, 0.04)


def lung_field(anat: Anatomy, f: Frame, s: float, outline: np.ndarray | None = None) -> np.ndarray:
    """Aerated lung of side s: the hemithorax above the diaphragm."""
    outline = hemithorax(anat, f, s) if outline is None else outline
    return outline * soft(dome(anat, f, s) - f.v, 0.02)


def heart_mask(anat: Anatomy, f: Frame) -> np.ndarray:
    hw = anat.heart_half_width
    cu = 0.08 + 0.35 * (hw - 0.355)
    return soft(1.0 - ellipse_radius(f, cu, anat.heart_cv, hw, 0.29), 0.025)


@dataclass
class Scene:
    """Fields of one image on its working grid, shared by the finding painters."""

    frame: Frame
    anat: Anatomy
    rng: np.random.Generator
    density: np.ndarray
    lungs: dict  # side sign (+1/-1) -> lung field mask
    markings: np.ndarray  # lung-marking texture already added to density (painters may remove it)
    heart: np.ndarray


def base_scene(anat: Anatomy, f: Frame) -> Scene:
    rng = np.random.default_rng(anat.seed)
    u, v = f.u, f.v
    half_width = 0.3 + 0.72 * soft(v + 1.12, 0.08) - 0.04 * soft(v - 0.9, 0.2)  # neck -> shoulders -> flank
    body = soft(half_width - np.abs(u), 0.03)
    outlines = {s: hemithorax(anat, f, s) for s in (-1.0, 1.0)}
    lungs = {s: lung_field(anat, f, s, outlines[s]) for s in (-1.0, 1.0)}
    lung = np.maximum(lungs[-1.0], lungs[1.0])
    heart = heart_mask(anat, f)
    width = 0.13 + 0.06 * np.clip(v + 0.6, 0.0, 1.0)
    mediastinum = soft(width - np.abs(u - 0.02), 0.03) * soft(0.5 - v, 0.05)
    knob = soft(1.0 - ellipse_radius(f, 0.14, -0.4, 0.09, 0.08), 0.03)
    centre = np.maximum(np.maximum(mediastinum, heart), knob)
    density = 0.04 + 0.46 * body - 0.27 * lung * (1.0 - 0.8 * centre) + 0.07 * centre
    density -= 0.06 * soft(0.035 - np.abs(u - 0.01), 0.01) * soft(-0.45 - v, 0.05)  # trachea
    thorax = np.maximum(outlines[-1.0], outlines[1.0])
    phase = (v + 0.55 * (np.abs(u) - 0.3) ** 2 - 0.1 * np.abs(u)) / anat.rib_period + anat.rib_phase
    ribs = soft(np.cos(2 * np.pi * phase) - 0.4, 0.15)
    density += 0.03 * ribs * thorax
    clav_v = -0.88 + 0.22 * (np.abs(u) - 0.15) ** 2
    clavicle = soft(0.035 - np.abs(v - clav_v), 0.012) * soft(0.8 - np.abs(u), 0.03) * soft(np.abs(u) - 0.1, 0.02)
    density += 0.06 * clavicle
    vert = 0.7 + 0.3 * soft(np.cos(2 * np.pi * v / 0.16), 0.3)
    density += 0.03 * soft(0.08 - np.abs(u - 0.01), 0.015) * vert * body
    hila = sum(np.exp(-ellipse_radius(f, s * 0.25, anat.lung_cy + 0.08, 0.16, 0.2) ** 2) for s in (-1.0, 1.0))
    vessels = np.abs(smooth_noise(rng, f.shape, max(1.0, 0.02 * f.px_per_unit)))
    markings = (0.012 + 0.05 * hila) * vessels * lung
    density += markings + 0.05 * hila * lung
    return Scene(frame=f, anat=anat, rng=rng, density=density.astype(np.float32), lungs=lungs,
                 markings=markings.astype(np.float32), heart=heart)
