"""Metrics in torch (batched, any device): grounding (CNR, IoU, Dice), classification (AUROC, F1...), bootstrap.

`grounding` holds the definitions and full-resolution reference functions; `grounding_cells` the exact
cell-weighted fast path the tasks use; `classification`, `aggregation` (category/macro/micro means) and
`bootstrap` (seeded CIs, paired comparisons) the sample-level statistics.
"""

from msxr_bench.metrics.aggregation import (
    Aggregate,
    GroupStat,
    aggregate,
    group_index,
    grouped_nanmean,
    macro_mean,
    micro_mean,
)
from msxr_bench.metrics.bootstrap import (
    BootstrapCI,
    PairedBootstrap,
    bootstrap_ci,
    mean_statistic,
    paired_bootstrap,
    resample_indices,
)
from msxr_bench.metrics.classification import DEFINITIONS as CLASSIFICATION_DEFINITIONS
from msxr_bench.metrics.classification import BinaryMetrics, auroc, average_ranks, binary_metrics_at, f1_max_threshold
from msxr_bench.metrics.grounding import DEFINITIONS as GROUNDING_DEFINITIONS
from msxr_bench.metrics.grounding import (
    BOX_RULE,
    NAN_POLICY,
    STATUS_FLAGS,
    GroundingScores,
    box_pixel_ranges,
    box_pixel_ranges_batched,
    box_union_mask,
    cnr,
    grounding_scores_full,
    iou_dice,
    status_counts,
)
from msxr_bench.metrics.grounding_cells import (
    cell_weights,
    cnr_from_cells,
    grounding_scores,
    iou_dice_from_cells,
    stack_spans,
)

__all__ = [
    "CLASSIFICATION_DEFINITIONS",
    "GROUNDING_DEFINITIONS",
    "Aggregate",
    "BinaryMetrics",
    "BootstrapCI",
    "GroupStat",
    "PairedBootstrap",
    "aggregate",
    "auroc",
    "average_ranks",
    "binary_metrics_at",
    "bootstrap_ci",
    "f1_max_threshold",
    "group_index",
    "grouped_nanmean",
    "macro_mean",
    "mean_statistic",
    "micro_mean",
    "paired_bootstrap",
    "resample_indices",
    "BOX_RULE",
    "NAN_POLICY",
    "STATUS_FLAGS",
    "GroundingScores",
    "box_pixel_ranges",
    "box_pixel_ranges_batched",
    "box_union_mask",
    "cell_weights",
    "cnr",
    "cnr_from_cells",
    "grounding_scores",
    "grounding_scores_full",
    "iou_dice",
    "iou_dice_from_cells",
    "stack_spans",
    "status_counts",
]
