"""Boxes map between original and model-input pixels exactly as the forward transform moves the pixels."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from msxr_bench.geometry import preprocess
from msxr_bench.geometry.boxes import boxes_to_input, boxes_to_original, input_window
from msxr_bench.geometry.types import Geometry

BIOVIL = Geometry("resize_crop", 512, 480, (15, 15), 1.5)
GLORIA = Geometry("letterbox_crop", 256, 224, (19, 19))
SMALL = Geometry("resize_crop", 96, 80, (5, 5))
SIZES = [(600, 500), (3056, 2544), (2544, 3056), (512, 613), (257, 255)]


@pytest.mark.parametrize("geometry", [BIOVIL, GLORIA, SMALL], ids=["biovil", "gloria", "small"])
@pytest.mark.parametrize("size", SIZES)
def test_inverse_undoes_the_forward_map(geometry: Geometry, size: tuple[int, int]) -> None:
    h, w = size
    g = torch.Generator().manual_seed(h * 7 + w)
    xy = torch.rand(50, 2, generator=g) * torch.tensor([w * 0.6, h * 0.6])
    wh = torch.rand(50, 2, generator=g) * torch.tensor([w * 0.4, h * 0.4]) + 1
    boxes = torch.cat([xy, xy + wh], dim=1).double()
    back = boxes_to_original(boxes_to_input(boxes, geometry, h, w), geometry, h, w, clip=False)
    assert torch.allclose(back, boxes, atol=1e-9, rtol=0)


def test_the_crop_maps_back_to_the_window_computed_by_hand() -> None:
    # 600x500 (H x W): short side 500 -> 512 (x scale 1.024), long side int(512 * 600 / 500) = 614 (y scale
    # 614 / 600); crop offsets (top 67, left 16)
    x1, y1, x2, y2 = input_window(BIOVIL, 600, 500)
    assert x1 == pytest.approx(16 / 1.024) and x2 == pytest.approx(496 / 1.024)
    assert y1 == pytest.approx(67 * 600 / 614) and y2 == pytest.approx(547 * 600 / 614)
    # letterbox 3056 x 2544 to 256: width int(2544 * 256 / 3056) = 213, padding 21 left; crop offset 16 both ways:
    # the input's left edge lies 5 input pixels *inside* the padding -> clipped to the image edge
    x1, y1, x2, y2 = input_window(GLORIA, 3056, 2544)
    assert (x1, x2) == (0.0, 2544.0)
    assert y1 == pytest.approx(16 * 3056 / 256) and y2 == pytest.approx(240 * 3056 / 256)


def test_clipping_bounds_boxes_to_the_image() -> None:
    out = boxes_to_original(torch.tensor([[-100.0, -100.0, 600.0, 700.0], [500.0, 500.0, 520.0, 520.0]]),
                            BIOVIL, 600, 500)
    assert out[0].tolist() == pytest.approx([0.0, 0.0, 500.0, 600.0])
    assert out[1, 0] == out[1, 2] == 500.0  # wholly outside: empty


def _drawn(geometry: Geometry, size: tuple[int, int], box: tuple[int, int, int, int]) -> tuple[np.ndarray, list]:
    image = np.zeros(size, dtype=np.uint8)
    x1, y1, x2, y2 = box
    image[y1:y2, x1:x2] = 255
    crop = preprocess(image, geometry)[0].numpy()
    rows = np.nonzero((crop >= 0.5).any(axis=1))[0]
    cols = np.nonzero((crop >= 0.5).any(axis=0))[0]
    return crop, [cols[0], rows[0], cols[-1] + 1, rows[-1] + 1]


@pytest.mark.parametrize("geometry", [BIOVIL, GLORIA, SMALL], ids=["biovil", "gloria", "small"])
@pytest.mark.parametrize("size,box", [((600, 500), (100, 150, 300, 400)), ((300, 420), (37, 61, 250, 199)),
                                      ((257, 255), (40, 90, 222, 200))])
def test_a_drawn_rectangle_lands_where_the_forward_map_puts_its_box(geometry, size, box) -> None:
    """Independent of the box code: the half-intensity edges of a white rectangle after the real preprocessing."""
    _, seen = _drawn(geometry, size, box)
    mapped = boxes_to_input(torch.tensor(box, dtype=torch.float64), geometry, *size).clamp(0, geometry.crop)
    assert np.allclose(seen, mapped.numpy(), atol=1.0), (seen, mapped.tolist())


def test_a_box_predicted_on_the_input_maps_back_onto_the_drawn_rectangle() -> None:
    size, box = (600, 500), (100, 150, 300, 400)
    _, seen = _drawn(BIOVIL, size, box)
    back = boxes_to_original(torch.tensor(seen, dtype=torch.float64), BIOVIL, *size)
    assert np.allclose(back.numpy(), box, atol=1.0 / 1.02)  # one input pixel, in original pixels
