"""The adapter contract is checked when an adapter is built: what is missing is named (meta field, geometry,
embedding size, the method a declared capability needs); a text-only adapter needs no geometry; tasks the adapter
cannot do are skipped, not crashed."""

from __future__ import annotations

import pytest
import torch

from msxr_bench.adapters.base import (
    BOXES, GLOBAL, IMAGE_PAIRS, TEXT, AdapterContractError, AdapterMeta, EncoderAdapter, ImageEmbeddings,
    check_adapter,
)
from msxr_bench.geometry import Geometry
from msxr_bench.tasks import TaskSkipped
from task_helpers import run_named

META = dict(name="m", version="1", weights_source="random", embedding_dim=4)


class Images(EncoderAdapter):
    capabilities = frozenset({GLOBAL, TEXT})

    def __init__(self, meta=None, geometry=True) -> None:
        super().__init__()
        self.meta = AdapterMeta(**META) if meta is None else meta
        if geometry:
            self.geometry = Geometry("resize_crop", resize=32, crop=32, grid=(2, 2))

    def encode_images(self, images: torch.Tensor) -> ImageEmbeddings:
        return ImageEmbeddings(torch.nn.functional.normalize(torch.ones(images.shape[0], 4), dim=-1))

    def encode_texts(self, texts, normalize=True):
        return torch.nn.functional.normalize(torch.ones(len(texts), 4), dim=-1)


class TextOnly(EncoderAdapter):
    capabilities = frozenset({TEXT})

    def __init__(self) -> None:
        super().__init__()
        self.meta = AdapterMeta(**META)

    def encode_texts(self, texts, normalize=True):
        return torch.nn.functional.normalize(torch.ones(len(texts), 4), dim=-1)


def test_a_good_adapter_and_a_text_only_one_pass() -> None:
    assert check_adapter(Images(), "images").meta.name == "m"
    text = check_adapter(TextOnly(), "text")
    assert not hasattr(text, "geometry") and len(text.identity()) == 16  # identity without a geometry


@pytest.mark.parametrize("make, message", [
    (lambda: Images(geometry=False), "declares image capabilities (global) but has no `geometry`"),
    (lambda: Images(meta={"name": "m", "version": "1"}), "meta.weights_source: Field required"),
    (lambda: Images(meta=AdapterMeta(name="m", version="1", weights_source="random")),
     "meta.embedding_dim is required"),
    (lambda: type("Pairs", (Images,), {"capabilities": frozenset({GLOBAL, TEXT, IMAGE_PAIRS})})(),
     "declares 'image_pairs' but does not implement encode_image_pairs()"),
    (lambda: type("Boxes", (Images,), {"capabilities": frozenset({BOXES})})(),
     "declares 'boxes' but does not implement predict_boxes()"),
    (lambda: type("Odd", (Images,), {"capabilities": frozenset({"telepathy"})})(), "unknown capabilities"),
    (lambda: torch.nn.Linear(2, 2), "not an EncoderAdapter"),
])
def test_what_is_missing_is_named(make, message) -> None:
    with pytest.raises(AdapterContractError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_adapter(make(), "plugin")


def test_tasks_the_adapter_cannot_do_are_skipped(toyworld_root) -> None:
    with pytest.raises(TaskSkipped, match="m lacks global"):
        run_named("rsna-cls", {"split": "all"}, adapter=TextOnly(), data_root=toyworld_root)
    result = run_named("radnli-zs", adapter=TextOnly(), data_root=toyworld_root, n_bootstrap=0)
    assert result.adapter.geometry is None and result.adapter.capabilities == ["text"]
