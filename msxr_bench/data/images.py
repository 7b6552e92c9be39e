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
- a missing, unknown, unreadable or truncated file raises `ImageDecodeError` naming the path, and so does
  a multi-frame DICOM (a radiograph has one frame; guessing which to use would hide a wrong file).
`image_size` reads only the header (PIL lazy open; DICOM ``Rows``/``Columns``), never the pixels.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from msxr_bench.data.types import DatasetFormatError

RASTER_SUFFIXES = (".png", ".jpg", ".jpeg")
DICOM_SUFFIXES = (".dcm", ".dicom")


class ImageDecodeError(DatasetFormatError):
    """An image file is missing, has an unknown suffix, or cannot be decoded; the message names the path."""


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


def load_image(path: str | Path) -> np.ndarray:
    """Decode `path` to a uint8 array [H, W] (see the module docstring for the exact semantics)."""
    path = Path(path)
    kind = _kind(path)
    if not path.is_file():
        raise ImageDecodeError(f"{path}: image file not found")
    raw = _read_dicom_pixels(path) if kind == "dicom" else _read_raster_pixels(path)
    if raw.ndim not in (2, 3) or raw.size == 0:
        raise ImageDecodeError(f"{path}: expected a 2-D image (optionally with channels), got shape {raw.shape}")
    try:
        gray = Image.fromarray(remap_to_uint8(raw)).convert("L")
    except (TypeError, ValueError) as exc:  # e.g. an unsupported number of channels
        raise ImageDecodeError(f"{path}: cannot convert pixels of shape {raw.shape} to grayscale: {exc}") from exc
    return np.asarray(gray)


def image_size(path: str | Path) -> tuple[int, int]:
    """(H, W) of the image in `path`, from its header only (no pixel decoding)."""
    path = Path(path)
    kind = _kind(path)
    if not path.is_file():
        raise ImageDecodeError(f"{path}: image file not found")
    if kind == "dicom":
        ds = _dcmread(path, stop_before_pixels=True)
        rows, cols = ds.get("Rows"), ds.get("Columns")
        if rows is None or cols is None:
            raise ImageDecodeError(f"{path}: DICOM header lacks Rows/Columns")
        return int(rows), int(cols)
    try:
        with Image.open(path) as im:
            width, height = im.size
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageDecodeError(f"{path}: cannot read image header: {exc}") from exc
    return int(height), int(width)


def _kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in RASTER_SUFFIXES:
        return "raster"
    if suffix in DICOM_SUFFIXES:
        return "dicom"
    known = ", ".join(RASTER_SUFFIXES + DICOM_SUFFIXES)
    raise ImageDecodeError(f"{path}: unknown image suffix {path.suffix!r} (known, any case: {known})")


def _read_raster_pixels(path: Path) -> np.ndarray:
    from skimage import io

    try:
        with warnings.catch_warnings():
            # a file Pillow cannot read makes imageio try its other plugins, and importing its legacy DICOM
            # plugin warns about a deprecation that has nothing to do with this file; the error below is the news
            warnings.filterwarnings("ignore", message="The legacy `DICOM` plugin", category=DeprecationWarning)
            return np.asarray(io.imread(path))
    except Exception as exc:  # imageio/PIL raise many types for corrupt or truncated files
        raise ImageDecodeError(f"{path}: cannot decode image: {exc}") from exc


def _dcmread(path: Path, stop_before_pixels: bool = False):
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        return pydicom.dcmread(path, stop_before_pixels=stop_before_pixels)
    except (InvalidDicomError, OSError, EOFError, ValueError, KeyError) as exc:
        raise ImageDecodeError(f"{path}: cannot read DICOM: {exc}") from exc


def _read_dicom_pixels(path: Path) -> np.ndarray:
    ds = _dcmread(path)
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        raise ImageDecodeError(f"{path}: DICOM has no pixel data")
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames != 1:
        raise ImageDecodeError(f"{path}: DICOM has {frames} frames; a radiograph must have exactly one")
    try:
        pixels = ds.pixel_array
    except Exception as exc:  # truncated data, missing decoder plugin (JPEG), bad tags
        raise ImageDecodeError(
            f"{path}: cannot decode DICOM pixel data (transfer syntax {ds.file_meta.get('TransferSyntaxUID', '?')}): "
            f"{exc}. Compressed DICOMs need pylibjpeg or Pillow decoders installed."
        ) from exc
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip().upper()
    if not photometric.startswith("MONOCHROME"):
        return pixels  # colour: LUTs and inversion do not apply; PIL luma after the stretch
    apply_modality_lut, apply_voi_lut = _lut_helpers()
    values = apply_modality_lut(pixels, ds)
    values = apply_voi_lut(values, ds)
    values = np.asarray(values, dtype=float)
    if photometric == "MONOCHROME1":
        values = values.max() - values
    return values


def _lut_helpers():
    try:  # pydicom >= 3
        from pydicom.pixels import apply_modality_lut, apply_voi_lut
    except ImportError:  # pydicom 2.x
        from pydicom.pixel_data_handlers.util import apply_modality_lut, apply_voi_lut
    return apply_modality_lut, apply_voi_lut
