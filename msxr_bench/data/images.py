"""Decode a chest X-ray file (PNG, JPEG or DICOM) to the uint8 grayscale array every model starts from.

Semantics are those of hi-ml-multimodal's `health_multimodal/image/data/io.py::load_image` where it is
right: PNG/JPEG through `skimage.io.imread`, DICOM through `pydicom.dcmread(...).pixel_array`, then
`remap_to_uint8` (whole-array min-max stretch, ``a -= min; a /= max; a *= 255; astype(uint8)``, i.e.
truncation), then PIL ``Image.fromarray(...).convert("L")`` (an RGB image becomes PIL luma *after* the
stretch). On every input hi-ml handles correctly the result is identical, byte for byte.

Where hi-ml is wrong or brittle this module does the right thing instead:
- suffixes are matched case-insensitively (hi-ml raises on ``.JPG``, ``.Png``, ``.DCM``);
- DICOM pixels go through the Modality LUT (RescaleSlope/RescaleIntercept or a Modality LUT Sequence) and
  the VOI LUT / windowing (WindowCenter/WindowWidth or a VOI LUT Sequence) when the file has them, via
  pydicom's own helpers (hi-ml uses raw stored values);
- ``MONOCHROME1`` DICOMs (higher value = darker) are inverted after the LUTs (hi-ml shows them as negatives);
- a constant image gives all zeros (hi-ml divides by zero, NaN, then an undefined uint8 cast);
- a file that cannot be used raises `ImageDecodeError` naming the path and the cause, with a short
  `reason` for counting skips (`REASONS`): missing, truncated, no pixel data, compressed without a decoder
  (only then the hint to install the ``dicom`` extra), a malformed header value (tag and value named),
  multi-frame (a radiograph has one frame; guessing which to use would hide a wrong file), a modality that is
  not a radiograph (CR, DX or none accepted by default) or PALETTE COLOR (both configurable per call).
DICOM specifics live in `dicom.py`. `image_size` reads only the header (PIL lazy open; DICOM
``Rows``/``Columns``), never the pixels.
"""

from __future__ import annotations

import warnings
from collections.abc import Collection
from pathlib import Path

import numpy as np
from PIL import Image

from msxr_bench.data.types import DatasetFormatError

RASTER_SUFFIXES = (".png", ".jpg", ".jpeg")
DICOM_SUFFIXES = (".dcm", ".dicom")
RADIOGRAPH_MODALITIES: tuple[str, ...] = ("CR", "DX")  # the default of `load_image(allowed_modalities=)`

# reasons an image cannot be used (short, for counting skips; the message says the file and the cause)
MISSING = "missing image"
UNKNOWN_SUFFIX = "unknown image suffix"
TRUNCATED = "truncated image"
UNREADABLE = "unreadable image"
NOT_DICOM = "not a DICOM file"
NO_PIXEL_DATA = "DICOM without pixel data"
NO_DECODER = "compressed DICOM without a decoder"
MALFORMED_HEADER = "malformed DICOM header"
PIXELS_MISMATCH = "DICOM pixel data does not match its header"
MULTI_FRAME = "multi-frame DICOM"
UNSUPPORTED_MODALITY = "unsupported modality"
UNSUPPORTED_PHOTOMETRIC = "unsupported photometric interpretation"
UNSUPPORTED_TRANSFER_SYNTAX = "unsupported transfer syntax"
NOT_AN_IMAGE = "not a 2-D image"
REASONS = (MISSING, UNKNOWN_SUFFIX, TRUNCATED, UNREADABLE, NOT_DICOM, NO_PIXEL_DATA, NO_DECODER, MALFORMED_HEADER,
           PIXELS_MISMATCH, MULTI_FRAME, UNSUPPORTED_MODALITY, UNSUPPORTED_PHOTOMETRIC, UNSUPPORTED_TRANSFER_SYNTAX,
           NOT_AN_IMAGE)


class ImageDecodeError(DatasetFormatError):
    """An image file cannot be used; the message names the path and the cause, `reason` is one of `REASONS`."""

    def __init__(self, message: str, reason: str = UNREADABLE) -> None:
        super().__init__(message)
        self.reason = reason

    def __reduce__(self):  # picklable across DataLoader workers with its reason
        return type(self), (str(self), self.reason)


def remap_to_uint8(array: np.ndarray) -> np.ndarray:
    """Min-max stretch to [0, 255] with truncation, exactly as hi-ml's `remap_to_uint8`
    (no percentile clipping); a constant array maps to zeros instead of NaN."""
    a = np.asarray(array).astype(float)
    a -= a.min()
    top = a.max()
    if top == 0 or not np.isfinite(top):
        return np.zeros(a.shape, dtype=np.uint8)
    a /= top
    a *= 255
    return a.astype(np.uint8)


def load_image(path: str | Path, *, allowed_modalities: Collection[str] | None = RADIOGRAPH_MODALITIES,
               allow_palette_color: bool = False) -> np.ndarray:
    """Decode `path` to a uint8 array [H, W] (see the module docstring for the exact semantics).
    DICOM only: `allowed_modalities` (None = any) and `allow_palette_color` widen what is accepted."""
    path = Path(path)
    kind = _kind(path)
    if not path.is_file():
        raise ImageDecodeError(f"{path}: image file not found", reason=MISSING)
    if kind == "dicom":
        from msxr_bench.data.dicom import dicom_pixels

        raw = dicom_pixels(path, allowed_modalities, allow_palette_color)
    else:
        raw = _read_raster_pixels(path)
    if raw.ndim not in (2, 3) or raw.size == 0:
        raise ImageDecodeError(f"{path}: expected a 2-D image (optionally with channels), got shape {raw.shape}",
                               reason=NOT_AN_IMAGE)
    try:
        gray = Image.fromarray(remap_to_uint8(raw)).convert("L")
    except (TypeError, ValueError) as exc:  # e.g. an unsupported number of channels
        raise ImageDecodeError(f"{path}: cannot convert pixels of shape {raw.shape} to grayscale: {exc}",
                               reason=NOT_AN_IMAGE) from exc
    return np.asarray(gray)


def image_size(path: str | Path) -> tuple[int, int]:
    """(H, W) of the image in `path`, from its header only (no pixel decoding)."""
    path = Path(path)
    kind = _kind(path)
    if not path.is_file():
        raise ImageDecodeError(f"{path}: image file not found", reason=MISSING)
    if kind == "dicom":
        from msxr_bench.data.dicom import dicom_size

        return dicom_size(path)
    try:
        with Image.open(path) as im:
            width, height = im.size
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        reason = TRUNCATED if _raster_truncation(path) else UNREADABLE
        raise ImageDecodeError(f"{path}: cannot read image header: {exc}", reason=reason) from exc
    return int(height), int(width)


def _kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in RASTER_SUFFIXES:
        return "raster"
    if suffix in DICOM_SUFFIXES:
        return "dicom"
    known = ", ".join(RASTER_SUFFIXES + DICOM_SUFFIXES)
    raise ImageDecodeError(f"{path}: unknown image suffix {path.suffix!r} (known, any case: {known})",
                           reason=UNKNOWN_SUFFIX)


def _read_raster_pixels(path: Path) -> np.ndarray:
    from skimage import io

    try:
        with warnings.catch_warnings():
            # a file Pillow cannot read makes imageio try its other plugins, and importing its legacy DICOM
            # plugin warns about a deprecation that has nothing to do with this file; the error below is the news
            warnings.filterwarnings("ignore", message="The legacy `DICOM` plugin", category=DeprecationWarning)
            return np.asarray(io.imread(path))
    except Exception as exc:  # imageio/PIL raise many types for corrupt or truncated files
        truncation = _raster_truncation(path)
        if truncation or "truncated" in str(exc).lower():
            raise ImageDecodeError(f"{path}: truncated image: {truncation or exc}", reason=TRUNCATED) from exc
        raise ImageDecodeError(f"{path}: cannot decode image: {exc}", reason=UNREADABLE) from exc


def _raster_truncation(path: Path) -> str | None:
    """Why a PNG/JPEG file is cut short (no IEND chunk / no end-of-image marker), or None."""
    with open(path, "rb") as f:
        head = f.read(8)
        f.seek(max(0, path.stat().st_size - 64))
        tail = f.read()
    if head.startswith(b"\x89PNG\r\n\x1a\n") and b"IEND" not in tail:
        return f"the PNG ends at byte {path.stat().st_size} without its IEND chunk"
    if head.startswith(b"\xff\xd8") and b"\xff\xd9" not in tail:
        return f"the JPEG ends at byte {path.stat().st_size} without its end-of-image marker"
    return None
