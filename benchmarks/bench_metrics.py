"""Benchmark: MS-CXR-sized grounding scoring (1,162 samples at MIMIC size) on the exact cell-weighted path.

Random 15x15 grids, a 2544x3056 / 3056x2544 mix, 1-3 boxes per sample. Times CNR + mIoU + mDice for all
samples (AxisMaps built once per image size, as the task does), then checks a subset against the
full-resolution computation. Usage: python benchmarks/bench_metrics.py [--n 1162] [--check 4] [--device cpu]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from msxr_bench.geometry.types import Geometry
from msxr_bench.geometry import axis_map, grid_to_image
from msxr_bench.data.types import Box
from msxr_bench.metrics import box_union_mask, grounding_scores, grounding_scores_full

THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5)  # MS-CXR's mIoU thresholds (the ms-cxr task's default)

BIOVIL = Geometry("resize_crop", 512, 480, (15, 15), 1.5)
SIZES = [(3056, 2544), (2544, 3056)]


def make_samples(n: int, seed: int) -> tuple[torch.Tensor, list[tuple[int, int]], list[list[Box]]]:
    rng = np.random.default_rng(seed)
    sizes = [SIZES[int(rng.integers(0, 2))] for _ in range(n)]
    boxes = []
    for h, w in sizes:
        k = int(rng.integers(1, 4))
        bw, bh = rng.uniform(0.05, 0.5, k) * w, rng.uniform(0.05, 0.5, k) * h
        x, y = rng.uniform(0, 1, k) * (w - bw), rng.uniform(0, 1, k) * (h - bh)
        boxes.append([Box(float(round(a)), float(round(b)), float(round(c)), float(round(d))) for a, b, c, d in
                      zip(x, y, bw, bh)])
    grids = torch.from_numpy(rng.uniform(-1, 1, size=(n, 15, 15)).astype(np.float32))
    return grids, sizes, boxes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1162)
    ap.add_argument("--check", type=int, default=4, help="samples verified at full resolution")
    ap.add_argument("--placement", default="official", choices=["official", "exact"])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    grids, sizes, boxes = make_samples(args.n, seed=0)
    grids = grids.to(args.device)
    print(f"{args.n} samples, grid 15x15, sizes {dict((s, sizes.count(s)) for s in SIZES)}, "
          f"{sum(len(b) for b in boxes)} boxes, placement {args.placement}, device {args.device}, "
          f"torch threads {torch.get_num_threads()}")
    timings = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        maps = {s: axis_map(BIOVIL, *s, placement=args.placement) for s in set(sizes)}
        amaps = [maps[s] for s in sizes]
        scores = grounding_scores(grids, amaps, boxes, THRESHOLDS)
        cnr, miou, mdice = scores.cnr.cpu(), scores.miou.cpu(), scores.mdice.cpu()
        timings.append(time.perf_counter() - t0)
    print(f"fast path (AxisMaps + cell weights + CNR + mIoU + mDice, all samples): "
          f"best {min(timings):.3f} s, median {sorted(timings)[len(timings) // 2]:.3f} s over {args.repeats} runs")
    print(f"  mean CNR {float(cnr.nanmean()):.6f}, mIoU {float(miou.nanmean()):.6f}, mDice {float(mdice.nanmean()):.6f}, "
          f"NaN CNR {int(torch.isnan(cnr).sum())}")
    worst = 0.0
    t0 = time.perf_counter()
    for i in range(min(args.check, args.n)):
        h, w = sizes[i]
        full_map = grid_to_image(grids[i].cpu(), BIOVIL, h, w, args.placement)
        full = grounding_scores_full(full_map[None], box_union_mask(boxes[i], h, w)[None], THRESHOLDS)
        for a, b in [(full.cnr, cnr[i]), (full.iou[0], scores.iou[i].cpu()), (full.dice[0], scores.dice[i].cpu())]:
            rel = ((a - b).abs() / a.abs().clamp(min=1e-300)).nan_to_num(0.0).max()
            worst = max(worst, float(rel))
    dt = time.perf_counter() - t0
    print(f"full-resolution check on {min(args.check, args.n)} samples: max relative difference {worst:.2e} "
          f"({dt / max(1, min(args.check, args.n)):.2f} s per sample at full resolution)")
    if worst > 1e-9:
        raise SystemExit("fast path disagrees with the full-resolution computation")


if __name__ == "__main__":
    main()
