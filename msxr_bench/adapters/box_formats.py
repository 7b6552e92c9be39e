"""Box conventions of published grounding models, each by name, to and from `PredictedBox` (model-input pixels).

- `chexagent-grid100`: CheXagent's text boxes "(x1,y1),(x2,y2)", corners on a 0-100 grid of the model input
  (Stanford-AIMI/CheXagent `evaluation_chexbench/axis_2_image_text_reasoning/run_phrase_grounding.py` reads them
  as ints). Its script reuses the previous sample's box when a response has none; `parse_chexagent` never does:
  no box in the text is an empty list (the task counts it as "no box", IoU 0).
- `normalised-xyxy`: corners (x1, y1, x2, y2) as fractions of the input's width and height (RadVLM, MAIRA-2 style).
- `chex-cxcywh`: ChEX's normalised centre x, centre y, width, height (philip-mueller/chex
  `src/metrics/detection_metrics.py`).
Mapping input pixels back to the original image is the harness's job (`geometry/boxes.py`), not the adapter's.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable, Sequence

from msxr_bench.adapters.base import PredictedBox

Corners = tuple[float, float, float, float]


@dataclass(frozen=True)
class BoxConvention:
    """How a model writes a box: four numbers <-> corners in input pixels of an input of `size` = (H, W)."""

    name: str
    description: str
    _to_corners: Callable[[Sequence[float], tuple[int, int]], Corners]
    _from_corners: Callable[[Corners, tuple[int, int]], Corners]

    def to_box(self, values: Sequence[float], size: tuple[int, int], score: float = 1.0) -> PredictedBox:
        """A `PredictedBox` (input pixels) from the model's four numbers; ValueError on a malformed box."""
        if len(values) != 4 or not all(math.isfinite(float(v)) for v in values):
            raise ValueError(f"{self.name}: expected four finite numbers, got {list(values)!r}")
        x1, y1, x2, y2 = self._to_corners([float(v) for v in values], size)
        if x2 < x1 or y2 < y1:
            raise ValueError(f"{self.name}: box {list(values)!r} has its corners the wrong way round")
        return PredictedBox(x1, y1, x2 - x1, y2 - y1, float(score))

    def from_box(self, box: PredictedBox, size: tuple[int, int]) -> Corners:
        """The model's four numbers for a `PredictedBox` (input pixels)."""
        return self._from_corners((box.x, box.y, box.x + box.w, box.y + box.h), size)


def _grid_to(values: Sequence[float], size: tuple[int, int]) -> Corners:
    h, w = size
    return values[0] * w / 100, values[1] * h / 100, values[2] * w / 100, values[3] * h / 100


def _grid_from(c: Corners, size: tuple[int, int]) -> Corners:
    h, w = size
    return c[0] * 100 / w, c[1] * 100 / h, c[2] * 100 / w, c[3] * 100 / h


def _norm_to(values: Sequence[float], size: tuple[int, int]) -> Corners:
    h, w = size
    return values[0] * w, values[1] * h, values[2] * w, values[3] * h


def _norm_from(c: Corners, size: tuple[int, int]) -> Corners:
    h, w = size
    return c[0] / w, c[1] / h, c[2] / w, c[3] / h


def _cxcywh_to(values: Sequence[float], size: tuple[int, int]) -> Corners:
    h, w = size
    cx, cy, bw, bh = values
    return (cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h


def _cxcywh_from(c: Corners, size: tuple[int, int]) -> Corners:
    h, w = size
    return (c[0] + c[2]) / 2 / w, (c[1] + c[3]) / 2 / h, (c[2] - c[0]) / w, (c[3] - c[1]) / h


CHEXAGENT_GRID100 = BoxConvention("chexagent-grid100", "corners (x1, y1), (x2, y2) on a 0-100 grid of the model "
                                  "input (CheXagent's text boxes)", _grid_to, _grid_from)
NORMALISED_XYXY = BoxConvention("normalised-xyxy", "corners (x1, y1, x2, y2) as fractions of the input's width "
                                "and height", _norm_to, _norm_from)
CHEX_CXCYWH = BoxConvention("chex-cxcywh", "ChEX: centre x, centre y, width, height as fractions of the input",
                            _cxcywh_to, _cxcywh_from)
CONVENTIONS: dict[str, BoxConvention] = {c.name: c for c in (CHEXAGENT_GRID100, NORMALISED_XYXY, CHEX_CXCYWH)}

_NUMBER = r"\s*(-?\d+(?:\.\d+)?)\s*"
_CHEXAGENT_BOX = re.compile(rf"\({_NUMBER},{_NUMBER}\)\s*,?\s*\({_NUMBER},{_NUMBER}\)")


def parse_chexagent(text: str, size: tuple[int, int]) -> list[PredictedBox]:
    """Every "(x1,y1),(x2,y2)" box of a CheXagent response (0-100 grid) in input pixels, in text order; none
    found = [] (never the previous sample's box). A box with its corners swapped is skipped, not repaired."""
    out = []
    for match in _CHEXAGENT_BOX.finditer(text):
        try:
            out.append(CHEXAGENT_GRID100.to_box([float(v) for v in match.groups()], size))
        except ValueError:
            continue
    return out
