"""Metrics in torch (batched, any device): grounding (CNR, IoU, Dice), classification (AUROC, F1...), bootstrap.

`grounding` holds the definitions and full-resolution reference functions; `grounding_cells` the exact
cell-weighted fast path the tasks use; `classification` and `bootstrap` the sample-level statistics.
"""

from msxr_bench.metrics.grounding import (
    BOX_RULE,
    DEFAULT_THRESHOLDS,
    NAN_POLICY,
    STATUS_FLAGS,
    GroundingScores,
    box_pixel_ranges,
    box_union_mask,
    cnr,
    grounding_scores_full,
    iou_dice,
    minmax_rescale,
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
    "BOX_RULE",
    "DEFAULT_THRESHOLDS",
    "NAN_POLICY",
    "STATUS_FLAGS",
    "GroundingScores",
    "box_pixel_ranges",
    "box_union_mask",
    "cell_weights",
    "cnr",
    "cnr_from_cells",
    "grounding_scores",
    "grounding_scores_full",
    "iou_dice",
    "iou_dice_from_cells",
    "minmax_rescale",
    "stack_spans",
    "status_counts",
]
