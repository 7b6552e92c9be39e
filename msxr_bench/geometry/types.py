"""The `Geometry` of a model: how an original image becomes its input, and so how its grid maps back."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

Placement = Literal["official", "exact"]
PLACEMENTS: tuple[str, ...] = ("official", "exact")


@dataclass(frozen=True)
class Geometry:
    """How an original image becomes the model input, and so how a patch grid maps back.

    kind="resize_crop": resize the short side to `resize` (PIL bilinear, antialiased), centre crop
    `crop` (BioViL). kind="letterbox_crop": resize the long side to `resize` (area), zero-pad to a
    square, centre crop `crop` (GLoRIA). `grid` is the patch grid (h, w) covering the crop.
    `smoothing_sigma` is a Gaussian applied on the grid before upsampling (BioViL: 1.5), or None.
    `normalize_mean/std` are applied by the adapter itself, recorded here for provenance only.
    """

    kind: Literal["resize_crop", "letterbox_crop"]
    resize: int
    crop: int
    grid: tuple[int, int]
    smoothing_sigma: float | None = None
    channels: int = 3

    def to_dict(self) -> dict:
        d = asdict(self)
        d["grid"] = list(self.grid)
        return d
