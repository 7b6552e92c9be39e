"""`msxr-bench ground`: maps written as the official engine returns them, an overlay per phrase, clear errors.
Runs the real BioViL architecture from locally saved official-format files (random weights)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from msxr_bench.adapters.biovil import build_biovil
from biovil_files import SMALL_TEXT_CONFIG, write_official_files
from msxr_bench.inference import ground_phrases
from msxr_bench.cli import main


@pytest.fixture(scope="module")
def official(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ground")
    files = write_official_files(root / "weights", "biovil", seed=3, **SMALL_TEXT_CONFIG)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:700, 0:560] / 600
    pixels = 120 + 60 * np.sin(8 * yy) * np.cos(6 * xx) + 20 * rng.standard_normal((700, 560))
    image = root / "cxr.PNG"  # upper-case suffix: hi-ml would refuse it, we do not
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(image)
    return {**files, "image": image}


@pytest.fixture(scope="module")
def adapter(official):
    return build_biovil(image_weights=str(official["image_weights"]), text_model=str(official["text_model"]),
                        verify="false")


def _args(official) -> list[str]:
    return ["--model-arg", f"image_weights={official['image_weights']}",
            "--model-arg", f"text_model={official['text_model']}", "--model-arg", "verify=false"]


def test_ground_writes_the_official_maps_and_an_overlay(official, adapter, tmp_path) -> None:
    phrases = ["Left basilar consolidation.", "small right pleural effusion"]
    out_png, out_npy = tmp_path / "overlay.png", tmp_path / "maps.npy"
    result = CliRunner().invoke(main, ["ground", str(official["image"]), *phrases, "--model", "biovil",
                                       *_args(official), "--output", str(out_png), "--save-map", str(out_npy)])
    assert result.exit_code == 0, result.output
    maps = np.load(out_npy)
    assert maps.shape == (2, 700, 560) and maps.dtype == np.float32
    # official placement: square of side int(480 * 560 / 512) = 525, NaN-padded floor-first
    valid_rows = np.flatnonzero(~np.isnan(maps[0]).all(axis=1))
    valid_cols = np.flatnonzero(~np.isnan(maps[0]).all(axis=0))
    assert (valid_rows[0], valid_rows[-1], valid_cols[0], valid_cols[-1]) == (87, 611, 17, 541)
    assert np.nanmin(maps) >= -1 and np.nanmax(maps) <= 1
    expected = ground_phrases(adapter, official["image"], phrases).maps
    np.testing.assert_array_equal(maps, expected)
    assert out_png.stat().st_size > 10_000
    with Image.open(out_png) as png:
        assert png.width > png.height  # two panels side by side
    assert "overlay written" in result.output and "'small right pleural effusion': min" in result.output


def test_one_phrase_saves_a_2d_bilinear_map(official, adapter, tmp_path) -> None:
    out_npy = tmp_path / "map.npy"
    result = CliRunner().invoke(main, ["ground", str(official["image"]), "cardiomegaly", *_args(official),
                                       "--save-map", str(out_npy), "--interpolation", "bilinear"])
    assert result.exit_code == 0, result.output
    bilinear = np.load(out_npy)
    assert bilinear.shape == (700, 560)
    nearest = ground_phrases(adapter, official["image"], ["cardiomegaly"]).maps[0]
    assert (np.isnan(bilinear) == np.isnan(nearest)).all()
    assert np.abs(np.diff(bilinear[300, 100:400])).max() < np.abs(np.diff(nearest[300, 100:400])).max()


def test_ground_errors_are_clear(official, tmp_path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["ground", str(official["image"]), "effusion [SEP]", *_args(official)])
    assert result.exit_code != 0 and "special token" in result.output
    result = runner.invoke(main, ["ground", str(official["image"]), "effusion", "--model-arg", "colour=red"])
    assert result.exit_code != 0 and "unknown --model-arg for biovil: colour" in result.output
    result = runner.invoke(main, ["ground", str(official["image"]), "effusion", "--model", "biovill"])
    assert result.exit_code != 0 and "Did you mean" in result.output
