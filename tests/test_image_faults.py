"""One bad image is one counted failure with a true reason naming the file and the cause, in `load_image` and
in the DataLoader path (`engine.images`), never an exception that stops the task."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from adapters_for_tests import RandomCNNAdapter
from dicom_writer import write_dicom
from msxr_bench.data import images as images_module
from msxr_bench.data.images import ImageDecodeError, image_size, load_image
from msxr_bench.engine import ImageItem, ModelImageEmbeddings, resolve_runtime

CPU = resolve_runtime("cpu")
DECODERS_HINT = "pip install 'msxr-bench[dicom]'"


def ramp16(h: int = 40, w: int = 32) -> np.ndarray:
    return np.arange(h * w, dtype=np.uint16).reshape(h, w) * 7


def patch_tag(path: Path, element: bytes, value: bytes) -> Path:
    """Replace the value of an explicit-VR element in the file's bytes (pydicom refuses to write bad values)."""
    data = path.read_bytes()
    assert data.count(element) == 1
    start = data.index(element) + len(element)
    length = int.from_bytes(data[start - 2:start], "little")
    assert len(value) == length
    path.write_bytes(data[:start] + value + data[start + length:])
    return path


def bad_frames(tmp_path: Path) -> Path:
    path = write_dicom(tmp_path / "frames.dcm", ramp16(), NumberOfFrames="11")
    return patch_tag(path, b"\x28\x00\x08\x00IS\x02\x00", b"1A")


def cut(path: Path, keep: int) -> Path:
    path.write_bytes(path.read_bytes()[:keep])
    return path


def failures_of(items: list[ImageItem], workers: int = 0) -> dict[str, tuple[str, str]]:
    adapter = RandomCNNAdapter(kind="letterbox_crop").eval()
    provider = ModelImageEmbeddings(adapter, CPU, batch_size=2, num_workers=workers, progress=None)
    batches = list(provider.batches(items))
    seen = sorted([it.key for b in batches for it in b.items] + [f.item.key for b in batches for f in b.failures])
    assert seen == sorted(it.key for it in items)  # every image exactly once
    return {f.item.key: (f.reason, f.detail) for b in batches for f in b.failures}


def test_malformed_number_of_frames_names_the_file_the_tag_and_the_value(tmp_path):
    path = bad_frames(tmp_path)
    with pytest.raises(ImageDecodeError, match=r"frames\.dcm.*NumberOfFrames.*\(0028,0008\).*'1A'") as info:
        load_image(path)
    assert info.value.reason == "malformed DICOM header"
    assert image_size(path) == (40, 32)  # the header read for sizes does not need the frame count


@pytest.mark.parametrize("workers", [0, 2])
def test_a_bad_dicom_is_one_counted_failure_in_the_dataloader(tmp_path, workers):
    good = write_dicom(tmp_path / "good.dcm", ramp16())
    items = [ImageItem("good", good), ImageItem("bad", bad_frames(tmp_path))]
    failures = failures_of(items, workers)
    assert list(failures) == ["bad"]
    reason, detail = failures["bad"]
    assert reason == "malformed DICOM header" and "frames.dcm" in detail and "'1A'" in detail


def test_truncated_uncompressed_dicom_says_truncated_without_the_decoders_hint(tmp_path):
    path = cut(write_dicom(tmp_path / "short.dcm", ramp16()), -200)
    with pytest.raises(ImageDecodeError, match=r"short\.dcm.*truncated") as info:
        load_image(path)
    assert info.value.reason == "truncated image" and DECODERS_HINT not in str(info.value)


@pytest.mark.parametrize("keep", [300, 200, 150])
def test_dicom_cut_inside_its_header_is_truncated_not_without_pixel_data(tmp_path, keep):
    path = cut(write_dicom(tmp_path / "hdr.dcm", ramp16()), keep)
    with pytest.raises(ImageDecodeError, match=r"hdr\.dcm.*truncated") as info:
        load_image(path)
    assert info.value.reason == "truncated image"


def test_dicom_without_pixel_data_says_so(tmp_path):
    import pydicom

    path = write_dicom(tmp_path / "nopix.dcm", ramp16())
    ds = pydicom.dcmread(path)
    del ds.PixelData
    ds.save_as(path)
    with pytest.raises(ImageDecodeError, match=r"nopix\.dcm.*no pixel data") as info:
        load_image(path)
    assert info.value.reason == "DICOM without pixel data"


def rle_copy(tmp_path: Path, name: str = "rle.dcm") -> Path:
    import pydicom
    from pydicom.uid import RLELossless

    ds = pydicom.dcmread(write_dicom(tmp_path / name, ramp16()))
    ds.compress(RLELossless, encoding_plugin="pydicom")
    ds.save_as(tmp_path / name)
    return tmp_path / name


def test_truncated_compressed_dicom_says_truncated(tmp_path):
    path = cut(rle_copy(tmp_path), -100)
    with pytest.raises(ImageDecodeError, match=r"rle\.dcm.*truncated") as info:
        load_image(path)
    assert info.value.reason == "truncated image" and DECODERS_HINT not in str(info.value)


def test_compressed_dicom_without_a_decoder_names_the_dicom_extra(tmp_path, monkeypatch):
    from pydicom.pixels import get_decoder
    from pydicom.uid import RLELossless

    path = rle_copy(tmp_path)
    assert load_image(path).shape == (40, 32)  # decodable with the plugins installed here
    monkeypatch.setattr(get_decoder(RLELossless), "_available", {})  # as on a machine without any plugin
    with pytest.raises(ImageDecodeError, match=r"rle\.dcm.*RLE Lossless") as info:
        load_image(path)
    assert info.value.reason == "compressed DICOM without a decoder" and DECODERS_HINT in str(info.value)


@pytest.mark.parametrize("modality", ["MR", "CT", "US"])
def test_non_radiograph_modalities_are_refused_unless_allowed(tmp_path, modality):
    path = write_dicom(tmp_path / "scan.dcm", ramp16())
    patch_tag(path, b"\x08\x00\x60\x00CS\x02\x00", modality.encode())
    with pytest.raises(ImageDecodeError, match=rf"scan\.dcm.*modality '{modality}'") as info:
        load_image(path)
    assert info.value.reason == "unsupported modality"
    assert load_image(path, allowed_modalities=("CR", "DX", modality)).shape == (40, 32)
    assert load_image(path, allowed_modalities=None).shape == (40, 32)


def test_dx_and_a_missing_modality_are_accepted(tmp_path):
    import pydicom

    dx = write_dicom(tmp_path / "dx.dcm", ramp16(), Modality="DX")
    none = write_dicom(tmp_path / "none.dcm", ramp16())
    ds = pydicom.dcmread(none)
    del ds.Modality
    ds.save_as(none)
    assert np.array_equal(load_image(dx), load_image(none))


PALETTE_INDICES = (np.arange(40 * 32).reshape(40, 32) % 200).astype(np.uint8)


def palette_dicom(tmp_path: Path) -> Path:
    lut = np.arange(256, dtype=np.uint16)[::-1] * 257  # a reversed grey palette
    descriptor = [256, 0, 16]
    return write_dicom(tmp_path / "palette.dcm", PALETTE_INDICES,
                       photometric="PALETTE COLOR", RedPaletteColorLookupTableDescriptor=descriptor,
                       GreenPaletteColorLookupTableDescriptor=descriptor,
                       BluePaletteColorLookupTableDescriptor=descriptor,
                       RedPaletteColorLookupTableData=lut.tobytes(), GreenPaletteColorLookupTableData=lut.tobytes(),
                       BluePaletteColorLookupTableData=lut.tobytes())


def test_palette_color_is_refused_unless_allowed(tmp_path):
    path = palette_dicom(tmp_path)
    with pytest.raises(ImageDecodeError, match=r"palette\.dcm.*PALETTE COLOR") as info:
        load_image(path)
    assert info.value.reason == "unsupported photometric interpretation"
    grey = (255 - PALETTE_INDICES.astype(int)) * 257  # what the palette maps each index to, on all three channels
    want = ((grey - grey.min()) / (grey.max() - grey.min()) * 255).astype(np.uint8)
    assert np.array_equal(load_image(path, allow_palette_color=True), want)


@pytest.mark.parametrize("name", ["t.png", "t.jpg"])
def test_truncated_png_and_jpeg_say_truncated(tmp_path, name):
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)).save(tmp_path / name)
    cut(tmp_path / name, len((tmp_path / name).read_bytes()) // 2)
    with pytest.raises(ImageDecodeError, match=rf"{name.replace('.', '[.]')}.*truncated") as info:
        load_image(tmp_path / name)
    assert info.value.reason == "truncated image"


def test_every_kind_of_failure_is_counted_under_its_own_reason(tmp_path, monkeypatch):
    png = tmp_path / "fine.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (50, 60), dtype=np.uint8)).save(png)
    thin = tmp_path / "thin.png"
    Image.fromarray(np.full((2000, 3), 9, np.uint8)).save(thin)  # too thin to letterbox
    jpg = tmp_path / "cut.jpg"
    Image.fromarray(np.random.default_rng(2).integers(0, 255, (64, 64), dtype=np.uint8)).save(jpg)
    cut(jpg, 400)
    items = [ImageItem("fine", png), ImageItem("gone", tmp_path / "gone.dcm"), ImageItem("cut", jpg),
             ImageItem("frames", bad_frames(tmp_path)), ImageItem("thin", thin)]
    failures = failures_of(items)
    assert {k: reason for k, (reason, _) in failures.items()} == {
        "gone": "missing image", "cut": "truncated image", "frames": "malformed DICOM header",
        "thin": "image unusable with the model's geometry"}
    assert all(str(item.path) in failures[item.key][1] for item in items[1:])

    def broken_decoder(path, **_):  # an exception type nobody planned for
        raise ZeroDivisionError("division by zero in a decoder plugin")

    monkeypatch.setattr(images_module, "load_image", broken_decoder)
    reason, detail = failures_of([ImageItem("fine", png)])["fine"]
    assert reason == "unreadable image (ZeroDivisionError)"
    assert str(png) in detail and "division by zero in a decoder plugin" in detail
