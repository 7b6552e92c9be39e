"""Where an image goes and comes back: the `Geometry` type, the forward transform (resize / letterbox / crop),
its exact inverse (grid -> original pixels, NaN outside the model's view), grid smoothing and the grid-level
scoring steps (`scoring`: min-max rescaling, placement). Metrics live in `msxr_bench.metrics`, not here.
"""

from msxr_bench.geometry.area_resize import resize_area
from msxr_bench.geometry.backprojection import (
    AxisMap,
    axis_map,
    effective_placement,
    grid_to_image,
    official_square_side,
)
from msxr_bench.geometry.forward import ForwardTransform, forward_transform, preprocess, preprocess_uint8
from msxr_bench.geometry.scoring import GridScoring, covered_cells, minmax_rescale, resolve_placement
from msxr_bench.geometry.smoothing import gaussian_kernel1d, reflect_indices, smooth_grid
from msxr_bench.geometry.types import PLACEMENTS, Geometry, Placement

__all__ = [
    "PLACEMENTS",
    "AxisMap",
    "ForwardTransform",
    "Geometry",
    "GridScoring",
    "Placement",
    "axis_map",
    "covered_cells",
    "effective_placement",
    "forward_transform",
    "gaussian_kernel1d",
    "grid_to_image",
    "minmax_rescale",
    "official_square_side",
    "preprocess",
    "preprocess_uint8",
    "reflect_indices",
    "resize_area",
    "resolve_placement",
    "smooth_grid",
]
