"""`msxr-bench ground` and `msxr_bench.inference.ground_phrases` work with every built-in adapter: each model's
own smoothing, rescaling and placement (GLoRIA and ConVIRT maps min-max rescaled as the tasks do)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from msxr_bench.adapters.registry import build_adapter
from msxr_bench.cli import main
from msxr_bench.geometry import axis_map, covered_cells, minmax_rescale, preprocess, smooth_grid
from msxr_bench.data.images import load_image
from msxr_bench.inference import ground_phrases
from msxr_bench.training.recipes import init_checkpoint

REPO = Path(__file__).resolve().parents[1]
TINY_BIOVIL = REPO / "fixtures" / "models" / "tiny-biovil"
IMAGE = next((REPO / "fixtures" / "toyworld" / "mimic-cxr-jpg").rglob("*.jpg"))
PHRASES = ["left pleural effusion", "cardiomegaly"]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("ckpts")
    found = {"biovil": TINY_BIOVIL}
    for model in ("gloria", "convirt"):
        found[model] = init_checkpoint(model, "tiny", 0, TINY_BIOVIL / "text", out / model)
    return found


@pytest.mark.parametrize("model", ["biovil", "gloria", "convirt"])
def test_ground_phrases_is_the_tasks_map_for_every_builtin(model: str, checkpoints) -> None:
    adapter = build_adapter(model, checkpoint=str(checkpoints[model])).eval()
    got = ground_phrases(adapter, IMAGE, PHRASES)
    image = load_image(IMAGE)
    h, w = image.shape
    with torch.no_grad():  # independently: the contract's calls, then smoothing and rescaling by hand
        grid = adapter.similarity_grid(adapter.encode_images(preprocess(image, adapter.geometry)[None]),
                                       adapter.encode_texts(PHRASES))[0].float()
    grid = smooth_grid(grid, adapter.geometry.smoothing_sigma)
    if adapter.meta.map_rescale == "minmax":
        amap = axis_map(adapter.geometry, h, w, got.placement)
        grid = minmax_rescale(grid, covered_cells(amap, grid.device), -1.0, 1.0)
        assert "min-max" in got.scale
    np.testing.assert_allclose(got.grids, grid.numpy(), rtol=1e-5, atol=1e-6)
    assert got.maps.shape == (2, h, w) and np.isfinite(got.maps).any()
    assert np.nanmax(got.maps) <= 1 + 1e-5 and np.nanmin(got.maps) >= -1 - 1e-5


@pytest.mark.parametrize("model", ["biovil", "gloria", "convirt"])
def test_ground_cli_works_with_every_builtin(model: str, checkpoints, tmp_path: Path) -> None:
    ran = CliRunner().invoke(main, ["ground", str(IMAGE), *PHRASES, "-m", model, "--model-arg",
                                    f"checkpoint={checkpoints[model]}", "-o", str(tmp_path / "o.png"), "--save-map",
                                    str(tmp_path / "m.npy")])
    assert ran.exit_code == 0, ran.output
    assert (tmp_path / "o.png").stat().st_size > 10_000 and np.load(tmp_path / "m.npy").shape[0] == 2
    assert "map placement" in ran.output
