"""Preprocessing geometry (resize / letterbox / crop) and its exact inverse, grid -> original pixels.

`preprocess` makes the model input; `smooth_grid` is BioViL's Gaussian on the patch grid;
`axis_map` / `grid_to_image` put a grid back on the original image (NaN outside the model's view).
Metrics live in `msxr_bench.metrics`, not here.
"""

from msxr_bench.data.geometry.area_resize import resize_area
from msxr_bench.data.geometry.backprojection import (
    AxisMap,
    axis_map,
    effective_placement,
    grid_to_image,
    official_square_side,
)
from msxr_bench.data.geometry.forward import ForwardTransform, forward_transform, preprocess, preprocess_uint8
from msxr_bench.data.geometry.smoothing import gaussian_kernel1d, reflect_indices, smooth_grid

__all__ = [
    "AxisMap",
    "ForwardTransform",
    "axis_map",
    "effective_placement",
    "forward_transform",
    "gaussian_kernel1d",
    "grid_to_image",
    "official_square_side",
    "preprocess",
    "preprocess_uint8",
    "reflect_indices",
    "resize_area",
    "smooth_grid",
]
