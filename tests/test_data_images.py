"""images.load_image / image_size: hi-ml semantics, plus the documented fixes (suffix case, DICOM LUTs,
MONOCHROME1, constant images, clear errors)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from skimage import io as skio

from dicom_writer import write_dicom
from msxr_bench.data.images import ImageDecodeError, image_size, load_image
from msxr_bench.data.types import DatasetFormatError


def himl_pipeline(path) -> np.ndarray:
    """hi-ml's steps written out literally (imread, remap_to_uint8, PIL convert L) for suffixes it accepts."""
    a = skio.imread(path).astype(float)
    a -= a.min()
    a /= a.max()
    a *= 255
    return np.asarray(Image.fromarray(a.astype(np.uint8)).convert("L"))


def ramp(h=20, w=30, lo=0, hi=255, dtype=np.uint8) -> np.ndarray:
    return np.linspace(lo, hi, h * w).round().astype(dtype).reshape(h, w)


def test_full_range_grayscale_png_is_returned_unchanged(tmp_path):
    img = ramp()
    Image.fromarray(img).save(tmp_path / "a.png")
    out = load_image(tmp_path / "a.png")
    assert out.dtype == np.uint8 and out.shape == (20, 30)
    np.testing.assert_array_equal(out, img)


def test_narrow_range_is_stretched_with_truncation(tmp_path):
    img = np.array([[10, 20], [30, 30]], dtype=np.uint8)
    Image.fromarray(img).save(tmp_path / "a.png")
    # (20-10)/20*255 = 127.5 -> 127 (truncation, not rounding)
    np.testing.assert_array_equal(load_image(tmp_path / "a.png"), [[0, 127], [255, 255]])


def test_sixteen_bit_png_is_stretched(tmp_path):
    img = np.array([[0, 1000], [2000, 4000]], dtype=np.uint16)
    Image.fromarray(img).save(tmp_path / "a.png")
    # 1000/4000*255 = 63.75 -> 63; 2000/4000*255 = 127.5 -> 127
    np.testing.assert_array_equal(load_image(tmp_path / "a.png"), [[0, 63], [127, 255]])


def test_rgb_jpeg_becomes_pil_luma_after_the_stretch(tmp_path):
    rgb = np.zeros((32, 48, 3), dtype=np.uint8)
    rgb[:, :16] = (255, 0, 0)
    rgb[:, 16:32] = (0, 0, 255)
    rgb[:, 32:] = (255, 255, 255)
    Image.fromarray(rgb).save(tmp_path / "a.jpg", quality=100, subsampling=0)
    out = load_image(tmp_path / "a.jpg")
    assert out.shape == (32, 48)
    np.testing.assert_array_equal(out, himl_pipeline(tmp_path / "a.jpg"))
    # ITU-R 601 luma: red 0.299*255 = 76.2, blue 0.114*255 = 29.1 (JPEG may move a level or two)
    assert abs(int(out[16, 8]) - 76) <= 2 and abs(int(out[16, 24]) - 29) <= 2 and out[16, 40] >= 253


@pytest.mark.parametrize("name", ["b.JPG", "b.Jpeg", "b.PNG"])
def test_suffixes_are_case_insensitive(tmp_path, name):
    img = ramp()
    fmt = "PNG" if name.lower().endswith("png") else "JPEG"
    Image.fromarray(img).save(tmp_path / "ref.png" if fmt == "PNG" else tmp_path / "ref.jpg", quality=95)
    Image.fromarray(img).save(tmp_path / name, format=fmt, quality=95)
    ref = tmp_path / ("ref.png" if fmt == "PNG" else "ref.jpg")
    np.testing.assert_array_equal(load_image(tmp_path / name), himl_pipeline(ref))


def test_constant_image_gives_zeros_not_nan(tmp_path):
    Image.fromarray(np.full((5, 7), 128, np.uint8)).save(tmp_path / "c.png")
    out = load_image(tmp_path / "c.png")
    assert out.shape == (5, 7) and not out.any()


def test_dicom_monochrome2_uint8_is_identity(tmp_path):
    img = ramp()
    write_dicom(tmp_path / "a.dcm", img)
    np.testing.assert_array_equal(load_image(tmp_path / "a.dcm"), img)


def test_dicom_uppercase_suffix(tmp_path):
    img = ramp()
    write_dicom(tmp_path / "a.DCM", img)
    np.testing.assert_array_equal(load_image(tmp_path / "a.DCM"), img)


def test_monochrome1_is_inverted(tmp_path):
    img = ramp()
    write_dicom(tmp_path / "m1.dcm", (255 - img).astype(np.uint8), photometric="MONOCHROME1")
    np.testing.assert_array_equal(load_image(tmp_path / "m1.dcm"), img)


def test_linear_rescale_alone_keeps_the_minmax_result(tmp_path):
    stored = ramp(lo=0, hi=4095, dtype=np.uint16)
    write_dicom(tmp_path / "a.dcm", stored, BitsStored=12, RescaleSlope=2, RescaleIntercept=-1024)
    write_dicom(tmp_path / "b.dcm", stored, BitsStored=12)
    np.testing.assert_array_equal(load_image(tmp_path / "a.dcm"), load_image(tmp_path / "b.dcm"))


def test_rescale_then_window_is_applied(tmp_path):
    stored = ramp(h=40, w=100, lo=0, hi=4095, dtype=np.uint16)
    write_dicom(tmp_path / "w.dcm", stored, BitsStored=12, RescaleSlope=1, RescaleIntercept=-1024,
                WindowCenter=0, WindowWidth=1000)
    out = load_image(tmp_path / "w.dcm").astype(int)
    hu = stored.astype(float) - 1024  # modality LUT by hand
    # window [-500, 500] in HU: below -> black, above -> white, linear between (DICOM PS3.3 C.11.2.1.2)
    assert (out[hu <= -500.5] == 0).all() and (out[hu >= 499.5] == 255).all()
    inside = (hu > -490) & (hu < 490)
    expected = ((hu[inside] + 0.5) / 999 + 0.5) * 255
    assert np.abs(out[inside] - expected).max() <= 1.0
    # without the modality LUT the window would sit 1024 levels higher: stored 1000 (HU -24) is mid-grey
    assert 100 < out.flat[np.argmin(np.abs(stored.astype(int) - 1000))] < 160


def test_monochrome1_with_window(tmp_path):
    stored = ramp(h=10, w=50, lo=0, hi=1000, dtype=np.uint16)
    write_dicom(tmp_path / "w1.dcm", stored, photometric="MONOCHROME1", BitsStored=12,
                WindowCenter=500, WindowWidth=1001)
    out = load_image(tmp_path / "w1.dcm").astype(int)
    assert out.flat[0] == 255 and out.flat[-1] == 0 and (np.diff(out.ravel()) <= 0).all()


def test_image_size_reads_headers(tmp_path):
    Image.fromarray(ramp(20, 30)).save(tmp_path / "a.PNG")
    Image.fromarray(ramp(21, 31)).save(tmp_path / "a.jpeg")
    write_dicom(tmp_path / "a.dcm", ramp(22, 32))
    assert image_size(tmp_path / "a.PNG") == (20, 30)
    assert image_size(tmp_path / "a.jpeg") == (21, 31)
    assert image_size(tmp_path / "a.dcm") == (22, 32)


def test_image_size_does_not_decode_dicom_pixels(tmp_path):
    path = write_dicom(tmp_path / "t.dcm", ramp(22, 32))
    data = path.read_bytes()
    path.write_bytes(data[:-200])  # truncated pixel data
    assert image_size(path) == (22, 32)
    with pytest.raises(ImageDecodeError, match="t.dcm"):
        load_image(path)


def test_unknown_suffix_is_a_clear_error(tmp_path):
    Image.fromarray(ramp()).save(tmp_path / "a.bmp")
    with pytest.raises(ImageDecodeError, match=r"a\.bmp.*unknown image suffix"):
        load_image(tmp_path / "a.bmp")
    with pytest.raises(DatasetFormatError, match=r"a\.bmp"):
        image_size(tmp_path / "a.bmp")


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(ImageDecodeError, match=r"nope\.jpg.*not found"):
        load_image(tmp_path / "nope.jpg")
    with pytest.raises(ImageDecodeError, match=r"nope\.dcm.*not found"):
        image_size(tmp_path / "nope.dcm")


@pytest.mark.parametrize("name", ["t.png", "t.jpg"])
def test_truncated_raster_is_a_clear_error(tmp_path, name):
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)).save(tmp_path / name)
    data = (tmp_path / name).read_bytes()
    (tmp_path / name).write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageDecodeError, match=name.replace(".", r"\.")):
        load_image(tmp_path / name)


def test_not_a_dicom_is_a_clear_error(tmp_path):
    (tmp_path / "x.dcm").write_bytes(b"this is not a dicom file at all" * 10)
    with pytest.raises(ImageDecodeError, match=r"x\.dcm"):
        load_image(tmp_path / "x.dcm")
