"""Each named box convention converts to input pixels as its model writes it, and back (round trips)."""

from __future__ import annotations

import pytest

from msxr_bench.adapters.base import PredictedBox
from msxr_bench.adapters.box_formats import (
    CHEX_CXCYWH, CHEXAGENT_GRID100, CONVENTIONS, NORMALISED_XYXY, parse_chexagent,
)

SIZE = (448, 512)  # (H, W) of a model input


def test_conventions_by_hand() -> None:
    # 0-100 grid: (10, 20) - (60, 70) on a 512 wide, 448 high input
    b = CHEXAGENT_GRID100.to_box([10, 20, 60, 70], SIZE)
    assert (b.x, b.y, b.w, b.h) == pytest.approx((51.2, 89.6, 256.0, 224.0))
    b = NORMALISED_XYXY.to_box([0.25, 0.5, 0.75, 1.0], SIZE, score=0.3)
    assert (b.x, b.y, b.w, b.h, b.score) == pytest.approx((128.0, 224.0, 256.0, 224.0, 0.3))
    b = CHEX_CXCYWH.to_box([0.5, 0.5, 0.5, 0.25], SIZE)
    assert (b.x, b.y, b.w, b.h) == pytest.approx((128.0, 168.0, 256.0, 112.0))


@pytest.mark.parametrize("name", sorted(CONVENTIONS))
def test_round_trips(name: str) -> None:
    conv = CONVENTIONS[name]
    box = PredictedBox(37.5, 12.25, 100.0, 211.0, 0.7)
    again = conv.to_box(conv.from_box(box, SIZE), SIZE, score=box.score)
    assert (again.x, again.y, again.w, again.h, again.score) == pytest.approx((box.x, box.y, box.w, box.h, box.score))
    values = conv.from_box(box, SIZE)
    assert conv.from_box(conv.to_box(values, SIZE), SIZE) == pytest.approx(values)


def test_malformed_boxes_are_errors() -> None:
    with pytest.raises(ValueError, match="wrong way round"):
        NORMALISED_XYXY.to_box([0.8, 0.1, 0.2, 0.5], SIZE)
    with pytest.raises(ValueError, match="four finite numbers"):
        CHEX_CXCYWH.to_box([0.5, float("nan"), 0.1, 0.1], SIZE)
    with pytest.raises(ValueError, match="four finite numbers"):
        CHEXAGENT_GRID100.to_box([1, 2, 3], SIZE)


def test_chexagent_text_boxes_and_no_reuse_of_the_previous_box() -> None:
    text = "<|ref|>left effusion<|/ref|><|box|>(10,60),(45,95)<|/box|> and <|box|>( 55 , 62 )(90,97)<|/box|>"
    boxes = parse_chexagent(text, (100, 200))
    assert [v for b in boxes for v in (b.x, b.y, b.w, b.h)] == pytest.approx([20, 60, 70, 35, 110, 62, 70, 35])
    assert parse_chexagent("There is no focal consolidation.", (100, 200)) == []
    assert parse_chexagent("(50,50),(10,10)", (100, 100)) == []  # swapped corners: skipped, not repaired
