"""ChEX's box mAP as the `mean-average-precision` package computes it (a test-only dependency): the reference that
msxr_bench.metrics.box_ap is checked against, in tests/test_metrics_boxes.py and benchmarks/bench_box_metrics.py.
Where the conventions of pycocotools / torchmetrics differ: msxr_bench/metrics/box_ap.py."""

from __future__ import annotations

import warnings

import numpy as np

from msxr_bench.metrics.box_ap import AP_IOU_THRESHOLDS


def chex_package_map(pred: list[np.ndarray], truth: list[np.ndarray]) -> dict:
    """ChEX's BoxAPMetric: the package fed as ChEX feeds it (x1000, x2 - 1), its `value` with ChEX's settings."""
    from mean_average_precision import MeanAveragePrecision2d

    metric = MeanAveragePrecision2d(1)
    for p, t in zip(pred, truth):
        preds = np.zeros((len(p), 6))
        preds[:, :4] = p[:, :4] * 1000
        preds[:, 2:4] -= 1.0
        preds[:, 5] = p[:, 4]
        gt = np.zeros((len(t), 7))
        gt[:, :4] = t * 1000
        gt[:, 2:4] -= 1.0
        metric.add(preds, gt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas FutureWarnings inside the package
        return metric.value(iou_thresholds=np.array(AP_IOU_THRESHOLDS), mpolicy="soft",
                            recall_thresholds=np.arange(0.0, 1.01, 0.01))
