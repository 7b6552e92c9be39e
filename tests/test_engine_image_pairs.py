"""engine.image_pairs: every pair comes back once, in a batch or as a failure naming the image that failed; pairs with
and without a prior go to separate `encode_image_pairs` calls; embeddings are those of the adapter on the geometry's
crops (hand-made adapter whose embedding is the mean grey level of each image)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from msxr_bench.adapters.base import GLOBAL, IMAGE_PAIRS, AdapterMeta, EncoderAdapter, ImageEmbeddings, check_adapter
from msxr_bench.engine import resolve_runtime
from msxr_bench.engine.image_pairs import ImagePairItem, ModelImagePairEmbeddings
from msxr_bench.data.images import load_image
from msxr_bench.geometry import preprocess
from msxr_bench.geometry.types import Geometry

CPU = resolve_runtime("cpu")


class MeanGreyPairs(EncoderAdapter):
    """global = (mean grey of the current crop, of the prior crop or -1), unnormalised on purpose."""

    capabilities = frozenset({GLOBAL, IMAGE_PAIRS})

    def __init__(self) -> None:
        super().__init__()
        self.meta = AdapterMeta(name="mean-grey-pairs", version="0", weights_source="none", embedding_dim=2)
        self.geometry = Geometry("resize_crop", resize=32, crop=32, grid=(1, 1))
        self.calls: list[tuple[int, bool]] = []

    def encode_images(self, images: torch.Tensor) -> ImageEmbeddings:
        return self.encode_image_pairs(images, None)

    def encode_image_pairs(self, current: torch.Tensor, previous: torch.Tensor | None) -> ImageEmbeddings:
        self.calls.append((current.shape[0], previous is not None))
        prior = previous.mean(dim=(1, 2, 3)) if previous is not None else -torch.ones(current.shape[0])
        return ImageEmbeddings(global_=torch.stack([current.mean(dim=(1, 2, 3)), prior], dim=1))


def _png(path: Path, grey: int) -> Path:
    pixels = np.full((40, 48), grey, np.uint8)
    pixels[0, 0], pixels[-1, -1] = 0, 255  # the full range: decoding keeps the grey levels as they are
    Image.fromarray(pixels).save(path)
    return path


def _mean(adapter: EncoderAdapter, path: Path) -> float:
    return float(preprocess(load_image(path), adapter.geometry).mean())


@pytest.mark.parametrize("workers", [0, 1])
def test_pairs_are_batched_by_prior_and_failures_name_the_image(tmp_path: Path, workers: int) -> None:
    adapter = check_adapter(MeanGreyPairs(), "mean-grey-pairs")
    greys = {f"im{i}": 20 * i + 10 for i in range(6)}
    paths = {k: _png(tmp_path / f"{k}.png", g) for k, g in greys.items()}
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    items = [ImagePairItem("a", paths["im0"], paths["im1"]), ImagePairItem("b", paths["im2"], None),
             ImagePairItem("c", paths["im3"], paths["im4"]), ImagePairItem("d", tmp_path / "gone.png", paths["im1"]),
             ImagePairItem("e", paths["im5"], tmp_path / "broken.png"), ImagePairItem("f", paths["im1"], paths["im0"]),
             ImagePairItem("g", paths["im4"], None)]
    provider = ModelImagePairEmbeddings(adapter, CPU, batch_size=2, num_workers=workers, progress=None)
    seen, failures = {}, []
    for batch in provider.batches(items):
        failures += [(f.item.key, f.reason, f.item.path.name) for f in batch.failures]
        for k, item in enumerate(batch.items):
            assert batch.with_prior == (item.previous is not None)
            seen[item.key] = batch.embeddings.global_[k].tolist()
    assert sorted(seen) == ["a", "b", "c", "f", "g"]
    assert sorted(failures) == [("d", "missing image", "gone.png"), ("e", "unreadable prior image", "broken.png")]
    expected = {"a": ("im0", "im1"), "b": ("im2", None), "c": ("im3", "im4"), "f": ("im1", "im0"), "g": ("im4", None)}
    for key, (cur, prior) in expected.items():
        assert seen[key][0] == pytest.approx(_mean(adapter, paths[cur]), abs=1e-6)
        assert seen[key][1] == pytest.approx(-1.0 if prior is None else _mean(adapter, paths[prior]), abs=1e-6)
        assert abs(seen[key][0] - greys[cur] / 255) < 0.02  # the grey level, nearly (resampling)
    assert adapter.calls == [(2, True), (2, False), (1, True)]  # [a, c] [b, g] [f]: batches of one kind each


def test_no_items_no_batches() -> None:
    provider = ModelImagePairEmbeddings(MeanGreyPairs(), CPU, batch_size=2, progress=None)
    assert list(provider.batches([])) == []
    with pytest.raises(ValueError, match="batch_size"):
        ModelImagePairEmbeddings(MeanGreyPairs(), CPU, batch_size=0)
