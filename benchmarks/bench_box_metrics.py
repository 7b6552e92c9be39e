"""Benchmark: every box metric on an MS-CXR-sized set (1,162 phrases at MIMIC size) on the CPU.

Random truth (1-3 boxes per phrase) and predictions (0-5 scored boxes, near a true box or anywhere) on a
2544x3056 / 3056x2544 mix. Times (a) the per-sample scoring of the task's rows (`box_scores` + `soft_match`:
union / best-box IoU, ChEX's pooled parts on its 1024 grid at 6 score cuts, soft matching at 8 IoU thresholds) and
(b) every reported number from the rows (`box_statistics(...)[m].value()`: Acc@t, means per category, pooled IoU,
mAP/AP50/AP75, groundability), then checks mAP against the mean-average-precision package when installed.
Usage: python benchmarks/bench_box_metrics.py [--n 1162] [--repeats 5] [--threads N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from msxr_bench.data.types import MS_CXR_CATEGORIES
from msxr_bench.metrics.box_ap import average_precision, soft_match
from msxr_bench.metrics.boxes import box_scores, pad_boxes
from msxr_bench.tasks.grounding.box_metrics import box_statistics
from msxr_bench.tasks.grounding.box_rows import box_rows

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from chex_map_reference import chex_package_map  # noqa: E402 (the tests' reference: a test-only dependency)

SIZES = [(3056, 2544), (2544, 3056)]


def make_case(n: int, seed: int) -> tuple[list[np.ndarray], list[np.ndarray], list[tuple[int, int]]]:
    rng = np.random.default_rng(seed)
    sizes = [SIZES[int(rng.integers(0, 2))] for _ in range(n)]
    truth, pred = [], []
    for h, w in sizes:
        k = int(rng.integers(1, 4))
        wh = rng.uniform(0.05, 0.4, (k, 2)) * [w, h]
        xy = rng.uniform(0, 1, (k, 2)) * ([w, h] - wh)
        t = np.round(np.concatenate([xy, xy + wh], 1))
        m = int(rng.integers(0, 6))
        near = t[rng.integers(0, k, m)] + rng.normal(0, 0.05, (m, 4)) * [w, h, w, h]
        near[:, 2:] = np.maximum(near[:, 2:], near[:, :2] + 10)
        near = np.clip(near, 0, [w, h, w, h])
        truth.append(t)
        pred.append(np.concatenate([near, rng.uniform(0, 1, (m, 1))], 1))
    return truth, pred, sizes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1162)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    truth, pred, sizes = make_case(args.n, seed=0)
    print(f"{args.n} phrases, sizes {dict((s, sizes.count(s)) for s in SIZES)}, {sum(map(len, truth))} true and "
          f"{sum(map(len, pred))} predicted boxes, torch threads {torch.get_num_threads()}")
    from msxr_bench.data.types import Box, GroundingSample

    samples = [GroundingSample(f"s{i}/0", f"s{i}", None, MS_CXR_CATEGORIES[i % 8], "", tuple(
        Box(a, b, c - a, d - b) for a, b, c, d in t), s) for i, (t, s) in enumerate(zip(truth, sizes))]
    boxes = {s.sample_id: torch.from_numpy(p) for s, p in zip(samples, pred)}
    scoring = {"box_source": {"kind": "model", "cnr": "n/a"}}
    pad = lambda xs: pad_boxes([torch.from_numpy(x) for x in xs])  # noqa: E731
    metric_t, rows_t, stats_t = [], [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        p, t = pad(pred), pad(truth)
        scores = box_scores(p, t, torch.tensor(sizes))
        ranked, tp = soft_match(p, t)
        ap = average_precision(ranked, tp, t.count)
        acc = (scores.best_box_iou >= 0.5).double().mean()
        pooled = scores.pooled_inter.sum(0) / scores.pooled_union.sum(0)
        t1 = time.perf_counter()
        rows = box_rows(samples, boxes, "dicom_id")
        t2 = time.perf_counter()
        values = {k: s.value() for k, s in box_statistics(rows, scoring, MS_CXR_CATEGORIES).items()}
        t3 = time.perf_counter()
        metric_t.append(t1 - t0)
        rows_t.append(t2 - t1)
        stats_t.append(t3 - t2)
    print(f"metrics on the boxes (IoUs, pooled parts, matching, AP, Acc, pooled IoU): best {min(metric_t):.3f} s, "
          f"median {np.median(metric_t):.3f} s")
    print(f"per-sample rows of the results file (the same scoring + Python dicts): best {min(rows_t):.3f} s, "
          f"median {np.median(rows_t):.3f} s")
    print(f"every reported number from the rows (categories, macro/micro, mAP, pooled): best {min(stats_t):.3f} s, "
          f"median {np.median(stats_t):.3f} s")
    total = [a + b for a, b in zip(rows_t, stats_t)]
    print(f"the task's whole scoring (rows + numbers): best {min(total):.3f} s, median {np.median(total):.3f} s "
          f"over {args.repeats} runs")
    assert abs(float(acc) - values["acc@0.5_micro"]) < 1e-12 and abs(float(ap.mean()) - values["map"]) < 1e-12
    assert abs(float(pooled[0]) - values["pooled_iou"]) < 1e-12
    print("  " + ", ".join(f"{k} {values[k]:.4f}" for k in ("acc@0.5_micro", "best_box_iou_micro", "union_iou_micro",
                                                           "pooled_iou", "pooled_miou", "map", "ap50", "ap75")))
    ours = float(ap.mean())
    try:
        ref = float(chex_package_map(pred, truth)["mAP"])
        print(f"mAP vs mean-average-precision (ChEX settings): {ours:.8f} vs {ref:.8f}, |diff| {abs(ours - ref):.1e}")
    except ImportError:
        print("mean-average-precision not installed: pip install -e '.[dev]' for the cross-check")
    assert abs(float(scores.union_iou.nanmean()) - values["union_iou_micro"]) < 1e-12


if __name__ == "__main__":
    main()
