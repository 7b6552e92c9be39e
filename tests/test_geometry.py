"""Forward preprocessing and grid smoothing match the official operations (OpenCV, torchvision, scipy)."""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import scipy.ndimage as ndi
import torch

from msxr_bench.geometry.types import Geometry
from msxr_bench.geometry import forward_transform, preprocess, reflect_indices, resize_area, smooth_grid

DATA = Path(__file__).parent / "data" / "geometry"
BIOVIL = Geometry("resize_crop", 512, 480, (15, 15), 1.5)
GLORIA = Geometry("letterbox_crop", 256, 224, (19, 19))


def _cv2_cases():
    spec = importlib.util.spec_from_file_location("make_cv2_inter_area", DATA / "make_cv2_inter_area.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)  # defines CASES and test_pattern; OpenCV is only imported under __main__
    return gen.CASES, gen.test_pattern, np.load(DATA / "cv2_inter_area.npz")


def test_resize_area_is_bit_identical_to_opencv_inter_area_when_shrinking():
    cases, pattern, ref = _cv2_cases()
    checked = 0
    for i, ((h, w), (oh, ow)) in enumerate(cases):
        out = resize_area(pattern(h, w, i % 2), oh, ow)
        assert out.shape == (oh, ow) and out.dtype == np.uint8
        if f"sha256_{i}" in ref.files:
            digest = hashlib.sha256(np.ascontiguousarray(out).tobytes()).hexdigest()
            assert digest == str(ref[f"sha256_{i}"]), f"case {i}: {(h, w)} -> {(oh, ow)} differs from OpenCV"
            checked += 1
        else:  # growing: OpenCV's fixed-point bilinear fallback, reproduced within one grey level
            diff = np.abs(out.astype(int) - ref[f"out{i}"].astype(int))
            assert diff.max() <= 1, f"case {i}: max difference {diff.max()}"
    assert checked == 9


def test_resize_area_4x4_is_the_rounded_block_mean():
    img = np.random.default_rng(3).integers(0, 256, size=(64, 48), dtype=np.uint8)
    blocks = img.reshape(16, 4, 12, 4).astype(np.int64).sum(axis=(1, 3))
    assert np.array_equal(resize_area(img, 16, 12), np.round(blocks / 16).astype(np.uint8))  # half to even
    img2 = np.array([[1, 2], [2, 1]], dtype=np.uint8)  # 2x2 area rounds half up: 6/4 = 1.5 -> 2
    assert resize_area(img2, 1, 1)[0, 0] == 2


def test_resize_crop_numbers_follow_torchvision():
    # short side W=500 -> 512, long side int(512 * 600 / 500) = 614; crop top round(67.0), left round(16.0)
    t = forward_transform(BIOVIL, 600, 500)
    assert (t.resized, t.crop_offset, t.pad) == ((614, 512), (67, 16), (0, 0, 0, 0))
    # MIMIC portrait 3056x2544: long side int(512 * 3056 / 2544) = 615, top round(67.5) = 68 (half to even)
    assert forward_transform(BIOVIL, 3056, 2544).crop_offset == (68, 16)
    # (613 - 480) / 2 = 66.5 rounds to 66 (even), 615 -> 67.5 -> 68
    assert forward_transform(BIOVIL, 512, 613).crop_offset == (16, 66)
    assert forward_transform(BIOVIL, 512, 615).crop_offset == (16, 68)


def test_letterbox_numbers_follow_gloria_resize_img():
    t = forward_transform(GLORIA, 3056, 2544)  # portrait: height -> 256, width int(2544 * (256 / 3056))
    assert (t.resized, t.pad, t.crop_offset, t.canvas) == ((256, 213), (0, 0, 21, 22), (16, 16), (256, 256))
    t = forward_transform(GLORIA, 2544, 3056)  # landscape pads top/bottom
    assert (t.resized, t.pad) == ((213, 256), (21, 22, 0, 0))
    # GLoRIA computes int(W * (256 / H)), not int(W * 256 / H): 294 * (256 / 392) = 191.999...
    assert forward_transform(GLORIA, 392, 294).resized == (256, 191)
    assert forward_transform(GLORIA, 500, 500).resized == (256, 256)  # ties pick the height branch


def test_preprocess_resize_crop_cuts_the_round_based_centre_window():
    # Short side already 512: no resampling, so the output is exactly a window of the input.
    cols = (np.arange(613) % 256).astype(np.uint8)
    img = np.broadcast_to(cols, (512, 613)).copy()
    x = preprocess(img, BIOVIL)
    assert x.shape == (3, 480, 480) and x.dtype == torch.float32
    assert torch.equal(x[0], x[2])
    expected = torch.from_numpy(img[16:496, 66:546].astype(np.float32)) / 255
    assert torch.equal(x[1], expected)


def test_preprocess_resize_crop_resamples_with_antialiasing():
    # A 1-px checkerboard downscaled 2x by an antialiased filter is ~flat grey; without antialias it aliases.
    img = ((np.indices((1024, 1200)).sum(axis=0) % 2) * 255).astype(np.uint8)
    x = preprocess(img, BIOVIL)
    assert float(x.std()) < 0.02 and abs(float(x.mean()) - 0.5) < 0.02


def test_preprocess_letterbox_equals_block_mean_pad_and_crop():
    rng = np.random.default_rng(5)
    img = rng.integers(0, 256, size=(1024, 1024), dtype=np.uint8)
    x = preprocess(img, GLORIA)
    small = np.round(img.reshape(256, 4, 256, 4).astype(np.int64).sum(axis=(1, 3)) / 16)
    assert torch.equal(x[0], torch.from_numpy(small[16:240, 16:240].astype(np.float32)) / 255)
    # Portrait 2048x1024 -> 256x128, pad 64 on each side, crop [16:240]: the first 48 columns are zero.
    img2 = rng.integers(1, 256, size=(2048, 1024), dtype=np.uint8)
    x2 = preprocess(img2, GLORIA)
    assert torch.all(x2[:, :, :48] == 0) and torch.all(x2[:, :, 48:176] > 0) and torch.all(x2[:, :, 176:] == 0)


def test_preprocess_rejects_what_it_cannot_do():
    with pytest.raises(ValueError, match="uint8"):
        preprocess(np.zeros((10, 10), dtype=np.float32), BIOVIL)
    with pytest.raises(ValueError, match="larger than resize"):
        forward_transform(Geometry("resize_crop", 224, 256, (7, 7)), 300, 300)
    with pytest.raises(ValueError, match="kind"):
        forward_transform(Geometry("other", 256, 224, (7, 7)), 300, 300)  # type: ignore[arg-type]


@pytest.mark.parametrize("size", [14, 15, 16, 8, 19, 3, 1])
@pytest.mark.parametrize("sigma", [1.5, 0.7, 3.0])
def test_smooth_grid_equals_scipy_gaussian_filter(size, sigma):
    rng = np.random.default_rng(size * 10 + int(sigma * 10))
    g32 = rng.uniform(-1, 1, size=(size, size + 1)).astype(np.float32)
    ref32 = ndi.gaussian_filter(g32, sigma=(sigma, sigma), order=0)
    out32 = smooth_grid(torch.from_numpy(g32), sigma)
    assert out32.dtype == torch.float32
    np.testing.assert_array_equal(out32.numpy(), ref32)  # bit-identical, incl. float32 rounding between passes
    g64 = g32.astype(np.float64) * 1.37
    np.testing.assert_allclose(
        smooth_grid(torch.from_numpy(g64), sigma).numpy(), ndi.gaussian_filter(g64, sigma=(sigma, sigma)), rtol=0, atol=1e-15
    )


def test_smooth_grid_repeats_the_reflection_when_the_radius_exceeds_the_grid():
    # sigma 1.5 -> radius 6 on 4x4 and 2x2 grids; sigma 3 -> radius 12 on 8x8.
    for shape, sigma in [((4, 4), 1.5), ((2, 3), 1.5), ((8, 8), 3.0)]:
        g = np.random.default_rng(1).normal(size=shape).astype(np.float32)
        np.testing.assert_array_equal(smooth_grid(torch.from_numpy(g), sigma).numpy(), ndi.gaussian_filter(g, sigma))
    for n, r in [(8, 6), (3, 12), (1, 5), (5, 5)]:
        padded = np.pad(np.arange(n), r, mode="symmetric")  # numpy's half-sample reflection, repeated
        assert reflect_indices(n, r).tolist() == padded.tolist()


def test_smooth_grid_is_batched_and_sigma_zero_is_identity():
    g = torch.randn(2, 3, 15, 15, generator=torch.Generator().manual_seed(0))
    out = smooth_grid(g, 1.5)
    for i in range(2):
        for j in range(3):
            np.testing.assert_array_equal(out[i, j].numpy(), ndi.gaussian_filter(g[i, j].numpy(), 1.5))
    assert torch.equal(smooth_grid(g, 0.0), g) and torch.equal(smooth_grid(g, None), g)
