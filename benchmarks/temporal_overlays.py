"""The README's MS-CXR-T picture: a stable finding and a worsening one of the toy world, each drawn as its prior
image, its current image and the similarity map of the current image (with the prior fused in by BioViL-T's
two-image path) against the prompt of its labelled class.

    python benchmarks/temporal_overlays.py --world /tmp/toy-temporal --checkpoint RUN/checkpoint \\
        --output docs/images/ms-cxr-t-overlays.png

(RUN: a `msxr-bench train --model biovil-t` run; the committed picture is of the 500-step run of
benchmarks/proof_of_temporal_learning.py.)

The two rows are the first MS-CXR-T rows of the world (file order) labelled stable and worsening for one finding,
preferring pleural effusion. Maps: patch-prompt cosine, smoothed and placed as `ms-cxr` does, bilinear for looks.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from msxr_bench.adapters.biovil import build_biovil_t  # noqa: E402
from msxr_bench.data.images import load_image  # noqa: E402
from msxr_bench.data.mscxr_t import IMAGE_FILE, PROGRESSIONS, load_progression  # noqa: E402
from msxr_bench.geometry import grid_to_image, preprocess, smooth_grid  # noqa: E402
from msxr_bench.tasks.temporal.spec import DEFAULT_PROMPTS  # noqa: E402


def pick_rows(world: Path) -> list:
    samples, _ = load_progression(world / "ms-cxr-t" / IMAGE_FILE, world)
    for finding in ("pleural_effusion", "pneumothorax", "consolidation", "pneumonia", "edema"):
        found = [next((s for s in samples if s.finding == finding and s.label == label), None)
                 for label in ("stable", "worsening")]
        if all(found):
            return found
    raise SystemExit(f"{world}: no finding has both a stable and a worsening MS-CXR-T row")


def panel(adapter, sample) -> dict:
    current, prior = load_image(sample.image_path), load_image(sample.previous_image_path)
    x, p = (preprocess(im, adapter.geometry)[None] for im in (current, prior))
    prompts = [DEFAULT_PROMPTS[sample.finding][c] for c in PROGRESSIONS]
    with torch.no_grad():
        emb = adapter.encode_image_pairs(x, p)
        texts = adapter.encode_texts(prompts)
        grid = smooth_grid(adapter.similarity_grid(emb, texts[PROGRESSIONS.index(sample.label)][None]),
                           adapter.geometry.smoothing_sigma)[0, 0]
        scores = (texts @ emb.global_[0]).tolist()
    heat = grid_to_image(grid, adapter.geometry, *current.shape, placement="exact", interpolation="bilinear").numpy()
    return {"current": current, "prior": prior, "heat": heat, "prompt": prompts[PROGRESSIONS.index(sample.label)],
            "scores": dict(zip(PROGRESSIONS, scores))}


def draw(rows: list, panels: list[dict], output: Path, title: str = "") -> Path:
    fig, axes = plt.subplots(len(rows), 3, figsize=(10.5, 3.7 * len(rows) + (0.4 if title else 0)), dpi=100)
    if title:
        fig.suptitle(title, fontsize=10)
    for r, (sample, p) in enumerate(zip(rows, panels)):
        predicted = max(p["scores"], key=p["scores"].get)
        titles = (f"prior ({sample.finding.replace('_', ' ')})", f"current — label: {sample.label}",
                  f"cos(current+prior, \"{p['prompt']}\")\npredicted: {predicted} ("
                  + ", ".join(f"{k[:4]} {v:+.2f}" for k, v in p["scores"].items()) + ")")
        for c, (image, title) in enumerate(zip((p["prior"], p["current"], p["current"]), titles)):
            ax = axes[r, c]
            ax.imshow(image, cmap="gray", vmin=0, vmax=255)
            if c == 2:
                low, high = np.nanpercentile(p["heat"], [1, 99])  # the map's own range: contrast within the image
                shown = ax.imshow(np.ma.masked_invalid(p["heat"]), cmap="inferno", vmin=low, vmax=high, alpha=0.55)
                fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.02).set_label("cosine (own range)", fontsize=8)
            ax.set_title(title, fontsize=9)
            ax.set_axis_off()
    fig.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output)
    plt.close(fig)
    return output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--world", type=Path, required=True)
    parser.add_argument("--checkpoint", type=Path, required=True, help="a biovil-t checkpoint directory")
    parser.add_argument("--output", type=Path, default=Path("docs/images/ms-cxr-t-overlays.png"))
    parser.add_argument("--title", default="", help="a line above the panels (which checkpoint, how trained)")
    args = parser.parse_args()
    adapter = build_biovil_t(checkpoint=str(args.checkpoint)).eval()
    rows = pick_rows(args.world)
    panels = [panel(adapter, s) for s in rows]
    print(draw(rows, panels, args.output, args.title))
    shown = [{"sample_id": s.sample_id, "label": s.label, "scores": p["scores"]} for s, p in zip(rows, panels)]
    print(json.dumps(shown, indent=1))


if __name__ == "__main__":
    main()
