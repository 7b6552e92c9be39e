"""One DICOM radiograph read to the pixel values a model starts from, with a true reason when it cannot be.

Lives here: reading a file with truncation detected (pydicom itself reads a cut-short file silently), the
header values decoding depends on checked and named when malformed, the modality / photometric policy,
decoder availability for compressed transfer syntaxes, the Modality and VOI LUTs and MONOCHROME1 inversion.
Not here: the uint8 mapping and PNG/JPEG (`images.py`), which also owns `ImageDecodeError` and its reasons.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Collection
from pathlib import Path
from typing import Any

import numpy as np

from msxr_bench.data import images as im

RADIOGRAPH_MODALITIES = im.RADIOGRAPH_MODALITIES  # a file without Modality is accepted too
GRAYSCALE = ("MONOCHROME1", "MONOCHROME2")
COLOUR = ("RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT")  # decoded to RGB, then PIL luma
PALETTE = "PALETTE COLOR"
DICOM_EXTRA_HINT = "install the dicom extra: pip install 'msxr-bench[dicom]'"
# header values that decoding reads, with the kind of number each must hold
NUMERIC_TAGS: dict[str, type] = {
    "Rows": int, "Columns": int, "SamplesPerPixel": int, "BitsAllocated": int, "BitsStored": int, "HighBit": int,
    "PixelRepresentation": int, "PlanarConfiguration": int, "NumberOfFrames": int, "RescaleSlope": float,
    "RescaleIntercept": float, "WindowCenter": float, "WindowWidth": float,
}
UNDEFINED_LENGTH = 0xFFFFFFFF


def read_dicom(path: Path, stop_before_pixels: bool = False):
    """The pydicom Dataset of `path`; ImageDecodeError (reason "not a DICOM file" or "truncated image") when
    the file is not DICOM or ends before its last element does."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    size = path.stat().st_size
    with open(path, "rb") as fp, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            ds = pydicom.dcmread(fp, stop_before_pixels=stop_before_pixels)
        except InvalidDicomError as exc:
            raise im.ImageDecodeError(f"{path}: not a DICOM file: {exc}", reason=im.NOT_DICOM) from exc
        except (OSError, EOFError, ValueError, KeyError, TypeError) as exc:  # pydicom's reader raises these
            if fp.tell() >= size:
                raise im.ImageDecodeError(f"{path}: truncated DICOM: the file ends at byte {size} inside an "
                                          f"element header ({exc})", reason=im.TRUNCATED) from exc
            raise im.ImageDecodeError(f"{path}: cannot read DICOM: {exc}", reason=im.UNREADABLE) from exc
    eof = [str(w.message) for w in caught if "end of file" in str(w.message).lower()]
    if eof:
        raise im.ImageDecodeError(f"{path}: truncated DICOM: {eof[0]}", reason=im.TRUNCATED)
    problem = _truncation(ds, size, whole_file=not stop_before_pixels)
    if problem:
        raise im.ImageDecodeError(f"{path}: truncated DICOM: {problem}", reason=im.TRUNCATED)
    return ds


def _truncation(ds, size: int, whole_file: bool) -> str | None:
    """Where the file stops short of its own structure, or None. pydicom stops quietly at a partial element
    header and keeps a short value, so both are looked for here from the raw elements' offsets."""
    meta = getattr(ds, "file_meta", None)
    meta_length = meta.get("FileMetaInformationGroupLength") if meta is not None else None
    ends: list[tuple[int, str]] = []
    if getattr(ds, "preamble", None) is not None and meta_length is not None:
        meta_end = 132 + 12 + int(meta_length)  # preamble + 'DICM', the group length element, the group
        if size < meta_end:
            return f"the file ends at byte {size}, inside its file meta information (which ends at {meta_end})"
        ends.append((meta_end, "the file meta information"))
    for tag in ds.keys():
        raw = ds.get_item(tag)
        tell, length = getattr(raw, "value_tell", None), getattr(raw, "length", None)
        if tell is not None and length is not None and length != UNDEFINED_LENGTH:
            ends.append((tell + length, f"element {tag}"))
    if not ends:
        return None
    end, what = max(ends)
    if end > size:
        return f"the file ends at byte {size}, inside {what} which needs {end} bytes"
    if whole_file and 0 < size - end < 8:
        return f"the file ends at byte {size}, inside the header of the element after {what}"
    return None


def dicom_size(path: Path) -> tuple[int, int]:
    """(Rows, Columns) from the header only."""
    ds = read_dicom(path, stop_before_pixels=True)
    numbers = header_numbers(ds, path, ("Rows", "Columns"))
    if "Rows" not in numbers or "Columns" not in numbers:
        raise im.ImageDecodeError(f"{path}: DICOM header lacks Rows/Columns", reason=im.MALFORMED_HEADER)
    return int(numbers["Rows"][0]), int(numbers["Columns"][0])


def dicom_pixels(path: Path, allowed_modalities: Collection[str] | None = RADIOGRAPH_MODALITIES,
                 allow_palette_color: bool = False) -> np.ndarray:
    """Pixel values of a single-frame radiograph: after the Modality and VOI LUTs and with MONOCHROME1
    inverted (float [H, W]); colour images as decoded RGB [H, W, 3]. `allowed_modalities=None` accepts any."""
    ds = read_dicom(path)
    numbers = header_numbers(ds, path, tuple(NUMERIC_TAGS))
    _check_policy(ds, path, allowed_modalities, allow_palette_color)
    if not any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        raise im.ImageDecodeError(
            f"{path}: DICOM has no pixel data element (its data set ends at byte {path.stat().st_size}, the end of "
            "the file): not an image object, or a file cut short between two elements", reason=im.NO_PIXEL_DATA)
    frames = int(numbers.get("NumberOfFrames", [1])[0])
    if frames != 1:
        raise im.ImageDecodeError(f"{path}: DICOM has {frames} frames; a radiograph must have exactly one",
                                  reason=im.MULTI_FRAME)
    pixels = _decode(ds, path, numbers)
    photometric = _photometric(ds)
    if photometric == PALETTE:
        return _palette_to_rgb(pixels, ds, path)
    if photometric not in GRAYSCALE:
        return pixels
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    try:
        values = np.asarray(apply_voi_lut(apply_modality_lut(pixels, ds), ds), dtype=float)
    except Exception as exc:  # a malformed LUT sequence or window
        raise im.ImageDecodeError(f"{path}: cannot apply the DICOM Modality/VOI LUT: {exc}",
                                  reason=im.MALFORMED_HEADER) from exc
    if photometric == "MONOCHROME1":
        values = values.max() - values
    return values


def header_numbers(ds, path: Path, keywords: tuple[str, ...]) -> dict[str, list[float]]:
    """The numeric header values of `keywords` present in `ds` (a list: some are multi-valued); a value that
    is not a number of its kind, or out of its range, is an ImageDecodeError naming the tag and the value."""
    out: dict[str, list[float]] = {}
    for keyword in keywords:
        if keyword not in ds:
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # pydicom warns and keeps the bad text: judged below
                value = ds[keyword].value
            values = [_number(v, NUMERIC_TAGS[keyword]) for v in _as_list(value)]
        except Exception as exc:
            raise _malformed(ds, path, keyword, str(exc)) from exc
        if not values:
            continue  # an empty value: as if absent
        problem = _out_of_range(keyword, values)
        if problem:
            raise _malformed(ds, path, keyword, problem)
        out[keyword] = values
    return out


def _as_list(value: Any) -> list:
    if value is None or value == "" or value == b"":
        return []
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return [v for v in value if v not in (None, "")]
    return [value]


def _number(value: Any, kind: type) -> float:
    number = float(value.strip()) if isinstance(value, str) else float(value)
    if not math.isfinite(number) or (kind is int and not number.is_integer()):
        raise ValueError(f"not {'an integer' if kind is int else 'a finite number'}")
    return number


def _out_of_range(keyword: str, values: list[float]) -> str | None:
    v = values[0]
    if keyword in ("Rows", "Columns", "NumberOfFrames") and v < 1:
        return "must be at least 1"
    if keyword == "BitsAllocated" and v not in (1, 8, 16, 32, 64):
        return "must be 1, 8, 16, 32 or 64"
    if keyword == "SamplesPerPixel" and v not in (1, 3):
        return "must be 1 or 3"
    if keyword == "BitsStored" and v < 1:
        return "must be at least 1"
    if keyword == "WindowWidth" and min(values) <= 0:
        return "must be positive"
    return None


def _malformed(ds, path: Path, keyword: str, why: str) -> "im.ImageDecodeError":
    raw = ds.get_item(keyword)
    value = getattr(raw, "value", None)
    text = value.decode("latin-1").strip("\x00 ") if isinstance(value, bytes) else str(value)
    tag = getattr(raw, "tag", None)
    return im.ImageDecodeError(f"{path}: malformed DICOM header value {keyword} {tag} = {text[:64]!r} ({why})",
                               reason=im.MALFORMED_HEADER)


def _photometric(ds) -> str:
    return str(ds.get("PhotometricInterpretation", "MONOCHROME2") or "MONOCHROME2").strip().upper()


def _check_policy(ds, path: Path, allowed_modalities: Collection[str] | None, allow_palette_color: bool) -> None:
    modality = str(ds.get("Modality", "") or "").strip().upper()
    if allowed_modalities is not None and modality and modality not in {m.upper() for m in allowed_modalities}:
        accepted = ", ".join(allowed_modalities) or "none"
        raise im.ImageDecodeError(
            f"{path}: modality {modality!r} is not a radiograph (accepted: {accepted}, or no Modality tag; "
            "load_image(..., allowed_modalities=...) accepts others)", reason=im.UNSUPPORTED_MODALITY)
    photometric = _photometric(ds)
    if photometric == PALETTE and not allow_palette_color:
        raise im.ImageDecodeError(
            f"{path}: photometric interpretation PALETTE COLOR is not a radiograph's (load_image(..., "
            "allow_palette_color=True) maps it through its palette)", reason=im.UNSUPPORTED_PHOTOMETRIC)
    if photometric not in GRAYSCALE + COLOUR + (PALETTE,):
        raise im.ImageDecodeError(f"{path}: unsupported photometric interpretation {photometric!r} (supported: "
                                  f"{', '.join(GRAYSCALE + COLOUR)})", reason=im.UNSUPPORTED_PHOTOMETRIC)


def _decode(ds, path: Path, numbers: dict[str, list[float]]) -> np.ndarray:
    from pydicom.pixels import get_decoder

    meta = getattr(ds, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    if syntax is None:
        raise im.ImageDecodeError(f"{path}: DICOM file meta lacks the Transfer Syntax UID (0002,0010)",
                                  reason=im.MALFORMED_HEADER)
    name = f"{syntax.name} ({syntax})" if syntax.name != str(syntax) else str(syntax)
    try:
        decoder = get_decoder(syntax)
    except NotImplementedError as exc:
        raise im.ImageDecodeError(f"{path}: transfer syntax {name} is not one pydicom decodes",
                                  reason=im.UNSUPPORTED_TRANSFER_SYNTAX) from exc
    if syntax.is_compressed and not decoder.is_available:
        missing = "; ".join(decoder.missing_dependencies) or "no plugin"
        raise im.ImageDecodeError(f"{path}: compressed DICOM ({name}) and no decoder installed for it "
                                  f"({missing}): {DICOM_EXTRA_HINT}", reason=im.NO_DECODER)
    if not syntax.is_compressed and "PixelData" in ds:
        have, need = len(ds.PixelData), _native_bytes(numbers)
        if need is not None and have < need:
            raise im.ImageDecodeError(
                f"{path}: pixel data holds {have} bytes but Rows x Columns x SamplesPerPixel x BitsAllocated "
                f"need {need}", reason=im.PIXELS_MISMATCH)
    try:
        return ds.pixel_array
    except Exception as exc:  # corrupt compressed data, a decoder's own limits
        raise im.ImageDecodeError(f"{path}: cannot decode {name} pixel data: {type(exc).__name__}: {exc}",
                                  reason=im.UNREADABLE) from exc


def _native_bytes(numbers: dict[str, list[float]]) -> int | None:
    try:
        rows, cols, bits = (int(numbers[k][0]) for k in ("Rows", "Columns", "BitsAllocated"))
    except KeyError:
        return None
    samples = int(numbers.get("SamplesPerPixel", [1])[0])
    return math.ceil(rows * cols * samples * bits / 8)


def _palette_to_rgb(pixels: np.ndarray, ds, path: Path) -> np.ndarray:
    from pydicom.pixels import apply_color_lut

    try:
        return np.asarray(apply_color_lut(pixels, ds))
    except Exception as exc:
        raise im.ImageDecodeError(f"{path}: cannot apply the DICOM palette colour lookup tables: {exc}",
                                  reason=im.MALFORMED_HEADER) from exc
