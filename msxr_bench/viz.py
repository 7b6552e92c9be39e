"""Pictures of results: heatmap overlays in the style of BioViL's Fig. 3, and a per-category bar chart.

Pictures only; every number drawn here comes from the task results (nothing is scored in this module).
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from msxr_bench.data.types import Box  # noqa: E402

HEATMAP_CMAP = "RdBu_r"  # diverging: blue = negative similarity, white = 0, red = positive
DISPLAY_PIXELS = 1024  # pictures are drawn from a strided view of at most this many pixels a side


def save_heatmap_overlay(image: np.ndarray, heatmap: np.ndarray, boxes: Sequence[Box], title: str, path: Path,
                         cnr: float | None = None, vmin: float = -1.0, vmax: float = 1.0, alpha: float = 0.5,
                         footnote: str | None = None, signed_cnr: float | None = None) -> Path:
    """Image in grey, `heatmap` ([H, W], NaN = not seen by the model, left transparent) alpha-blended with a
    diverging colormap in [vmin, vmax], ground-truth boxes dashed, the phrase as title, the signed CNR in the
    corner (beside the absolute CNR, which flatters a map that points away from the boxes)."""
    if image.shape[:2] != heatmap.shape:
        raise ValueError(f"image {image.shape[:2]} and heatmap {heatmap.shape} differ in size")
    h, w = heatmap.shape
    step = max(1, -(-max(h, w) // DISPLAY_PIXELS))  # a 6-inch figure cannot show more; keeps big CXRs fast
    extent = (0, w, h, 0)  # axes stay in original pixel coordinates (boxes need no rescaling)
    fig, ax = plt.subplots(figsize=(6.0, 6.0 * h / w + 0.8), dpi=100)
    ax.imshow(image[::step, ::step], cmap="gray", vmin=0, vmax=255, interpolation="bilinear", extent=extent)
    shown = ax.imshow(np.ma.masked_invalid(heatmap[::step, ::step]), cmap=HEATMAP_CMAP, vmin=vmin, vmax=vmax,
                      alpha=alpha, interpolation="nearest", extent=extent)
    for box in boxes:
        ax.add_patch(Rectangle((box.x, box.y), box.w, box.h, fill=False, edgecolor="lime", linewidth=1.8,
                               linestyle="--"))
    ax.set_title("\n".join(textwrap.wrap(title, 60)), fontsize=10)
    badge = cnr_badge(cnr, signed_cnr)
    if badge:
        away = signed_cnr is not None and signed_cnr < 0
        ax.text(0.02, 0.98, badge, transform=ax.transAxes, ha="left", va="top", fontsize=10,
                color="darkred" if away else "black", bbox={"facecolor": "white", "alpha": 0.85, "edgecolor": "none"})
    if footnote:
        ax.text(0.99, 0.01, footnote, transform=ax.transAxes, ha="right", va="bottom", fontsize=7, color="white")
    ax.set_axis_off()
    fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.02)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path


def cnr_badge(cnr: float | None, signed_cnr: float | None) -> str:
    """The overlay's corner text: the signed CNR first (negative = the map points away from the boxes)."""
    if signed_cnr is not None:
        text = f"signed CNR {signed_cnr:+.2f}" + (f"  (|CNR| {cnr:.2f})" if cnr is not None else "")
        return text + ("\nmap highest outside the boxes" if signed_cnr < 0 else "")
    return f"CNR {cnr:.2f}" if cnr is not None else ""


def save_category_bars(per_category: Sequence[dict], metrics: Sequence[str], title: str, path: Path,
                       macro: dict[str, float | None] | None = None) -> Path:
    """Grouped bars of `metrics` per category (rows: {"category", "n", "metrics": {...}}), macro means dotted."""
    categories = [row["category"] for row in per_category]
    x = np.arange(len(categories))
    width = 0.8 / max(len(metrics), 1)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(categories)) + 2.5, 4.0), dpi=100)
    for k, name in enumerate(metrics):
        values = [np.nan if row["metrics"].get(name) is None else row["metrics"][name] for row in per_category]
        bars = ax.bar(x + (k - (len(metrics) - 1) / 2) * width, values, width, label=name)
        if macro and macro.get(name) is not None:
            ax.axhline(macro[name], linestyle=":", linewidth=1.2, color=bars.patches[0].get_facecolor(),
                       label=f"{name} macro {macro[name]:.3f}")
    ax.set_xticks(x, [f"{c}\n(n={row['n']})" for c, row in zip(categories, per_category)], fontsize=8)
    ax.axhline(0.0, color="black", linewidth=0.6)
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
