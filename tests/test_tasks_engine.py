"""The engine under the tasks: streamed image embeddings with counted failures, sharding, the text memo and
its long-text policy, device/precision resolution."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from adapters_for_tests import RandomCNNAdapter
from msxr_bench.geometry import preprocess
from msxr_bench.data.images import load_image
from msxr_bench.engine import (
    ImageItem, ModelImageEmbeddings, PhraseTooLongError, Runtime, RuntimeConfigError, TextEmbeddingMemo,
    TextLengthPolicy, resolve_runtime, shard,
)
from msxr_bench.tasks.context import RunContext

CPU = resolve_runtime("cpu")


@pytest.fixture
def items(tmp_path: Path) -> list[ImageItem]:
    rng = np.random.default_rng(1)
    out = []
    for i, (h, w) in enumerate([(70, 90), (64, 64), (120, 80), (50, 66), (99, 77)]):
        path = tmp_path / f"img{i}.png"
        Image.fromarray(rng.integers(0, 255, (h, w), dtype=np.uint8)).save(path)
        out.append(ImageItem(f"k{i}", path))
    out[1].path.write_bytes(b"\x89PNG broken")
    return out + [ImageItem("gone", tmp_path / "missing.png")]


@pytest.mark.parametrize("workers", [0, 2])
def test_every_image_once_embedded_or_failed(items: list[ImageItem], workers: int) -> None:
    adapter = RandomCNNAdapter().eval()
    batches = list(ModelImageEmbeddings(adapter, CPU, batch_size=2, num_workers=workers, progress=None).batches(items))
    seen = [it.key for b in batches for it in b.items] + [f.item.key for b in batches for f in b.failures]
    assert sorted(seen) == sorted(it.key for it in items)
    assert {f.item.key: f.reason for b in batches for f in b.failures} == {"k1": "unreadable image",
                                                                          "gone": "missing image"}
    with torch.no_grad():
        for b in batches:
            for k, (item, size) in enumerate(zip(b.items, b.sizes)):
                image = load_image(item.path)
                assert size == image.shape
                want = adapter.encode_images(preprocess(image, adapter.geometry)[None]).global_[0]
                assert torch.allclose(b.embeddings.global_[k], want, atol=1e-6)
                assert b.embeddings.global_.dtype == torch.float32


def test_shards_partition_the_images(items: list[ImageItem]) -> None:
    parts = [shard(items, r, 3) for r in range(3)]
    assert sorted(i.key for p in parts for i in p) == sorted(i.key for i in items)
    with pytest.raises(ValueError, match="rank 3 outside world size 3"):
        shard(items, 3, 3)


def test_each_unique_text_is_encoded_once() -> None:
    adapter = RandomCNNAdapter()
    calls: list[list[str]] = []
    encode = adapter.encode_texts
    adapter.encode_texts = lambda texts, normalize=True: (calls.append(list(texts)), encode(texts, normalize))[1]
    memo = TextEmbeddingMemo(adapter, CPU, TextLengthPolicy.for_adapter(adapter), batch_size=2)
    first = memo.embed(["b", "a", "b", "c"])
    again = memo.embed(["c", "a", "d"])
    assert sorted(t for c in calls for t in c) == ["a", "b", "c", "d"] and max(len(c) for c in calls) <= 2
    assert torch.equal(first[1], again[1]) and torch.equal(first[0], first[2])
    assert torch.allclose(first, encode(["b", "a", "b", "c"]))


def test_long_text_policy() -> None:
    policy = TextLengthPolicy.for_adapter(RandomCNNAdapter(max_text_tokens=3), truncate=False)
    assert policy.apply("small left effusion") == "small left effusion"
    with pytest.raises(PhraseTooLongError, match="'small left pleural effusion'"):
        policy.apply("small left pleural effusion")
    policy.truncate = True
    assert policy.apply("small left pleural effusion") == "small left pleural"
    assert policy.record() == [{"n_tokens": 4, "limit": 3, "words": 4, "kept_words": 3}]  # no dataset text
    assert policy.record(keep_text=True) == [{"n_tokens": 4, "limit": 3, "words": 4, "kept_words": 3,
                                              "text": "small left pleural effusion"}]
    silent = RandomCNNAdapter(max_text_tokens=3)
    silent.count_text_tokens = None  # declares a limit, offers no way to count: refused, never guessed
    with pytest.raises(ValueError, match="no way to count tokens"):
        TextLengthPolicy.for_adapter(silent)


def test_runtime_resolution() -> None:
    assert resolve_runtime("auto").device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert not CPU.autocast and CPU.device_name == "cpu"
    with pytest.raises(RuntimeConfigError, match="autocast for CUDA"):
        resolve_runtime("cpu", "bf16")
    with pytest.raises(RuntimeConfigError, match="precision must be"):
        resolve_runtime("cpu", "int8")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeConfigError, match="no CUDA device"):
            resolve_runtime("cuda")


def test_default_image_batch_follows_the_device() -> None:
    """The library and the CLI share one default: 2 images per forward on CPU, 16 on CUDA."""
    assert CPU.default_batch_size == 2 and Runtime(torch.device("cuda")).default_batch_size == 16
    ctx = RunContext(adapter=RandomCNNAdapter(), adapter_name="random", runtime=CPU, data_root=Path("."))
    assert ctx.batch_size == 2
    assert RunContext(adapter=RandomCNNAdapter(), adapter_name="random", runtime=CPU, data_root=Path("."),
                      batch_size=5).batch_size == 5
    assert ModelImageEmbeddings(RandomCNNAdapter(), CPU).batch_size == 2


def test_an_image_the_geometry_cannot_take_is_a_counted_failure(tmp_path: Path) -> None:
    Image.fromarray(np.full((2000, 3), 9, dtype=np.uint8)).save(tmp_path / "thin.png")
    adapter = RandomCNNAdapter(kind="letterbox_crop")
    (batch,) = ModelImageEmbeddings(adapter, CPU, progress=None).batches([ImageItem("t", tmp_path / "thin.png")])
    assert batch.items == [] and batch.embeddings is None
    assert [(f.reason, "too thin to letterbox" in f.detail) for f in batch.failures] == [
        ("image unusable with the model's geometry", True)]
