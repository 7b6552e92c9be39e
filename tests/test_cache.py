"""The evaluation cache: an identical configuration hits and gives the very same numbers; changing the weights,
the geometry, the precision or an image's bytes misses; broken entries are misses; concurrent writers never
expose a partial entry; rsna-seg after rsna-cls reads the embeddings rsna-cls stored."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import BertTokenizer

from adapters_for_tests import RandomCNNAdapter
from msxr_bench.adapters.biovil import build_biovil
from msxr_bench.adapters.biovil_checkpoint import BioViLCheckpointConfig, save_biovil_checkpoint
from biovil_files import random_text_model, toy_vocab
from msxr_bench.cache import EvalCache
from msxr_bench.cache.store import load_entry, save_entry
from msxr_bench.engine import ImageItem, ModelImageEmbeddings, Runtime, profile, resolve_runtime
from msxr_bench.models.biovil import BioViLImageConfig, BioViLImageModel
from task_helpers import run_named

CPU = resolve_runtime("cpu")
TINY_IMAGE = BioViLImageConfig(depth=10, width=8, joint_feature_size=32, imagenet_fc=False)


def tiny_biovil_checkpoint(directory: Path, seed: int = 0) -> Path:
    """A BioViL checkpoint directory with a tiny ResNet and CXR-BERT (random weights, `seed`)."""
    torch.manual_seed(seed)
    image_model = BioViLImageModel(TINY_IMAGE)
    text_model = random_text_model(seed, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                                   intermediate_size=128, projection_size=32)
    directory.parent.mkdir(parents=True, exist_ok=True)
    vocab = directory.parent / f"vocab-{directory.name}.txt"
    vocab.write_text("\n".join(toy_vocab()) + "\n")
    config = BioViLCheckpointConfig(image=TINY_IMAGE, resize=160, crop=128, description="tiny test model")
    return save_biovil_checkpoint(directory, image_model, text_model, BertTokenizer(str(vocab)), config)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[int, Path]:
    root = tmp_path_factory.mktemp("ckpt")
    return {seed: tiny_biovil_checkpoint(root / f"seed{seed}", seed) for seed in (0, 1)}


@pytest.fixture
def items(tmp_path: Path) -> list[ImageItem]:
    rng = np.random.default_rng(3)
    out = []
    for i, (h, w) in enumerate([(300, 250), (180, 220), (256, 256), (400, 320)]):
        path = tmp_path / "images" / f"img{i}.png"
        path.parent.mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (h, w), dtype=np.uint8)).save(path)
        out.append(ImageItem(f"k{i}", path))
    return out


def embed(adapter, items, cache=None, runtime=CPU, workers=0):
    """{key: (size, global, patches)} and the provider's hit/miss counts."""
    provider = ModelImageEmbeddings(adapter.eval(), runtime, batch_size=3, num_workers=workers, progress=None,
                                    cache=cache)
    out = {}
    for batch in provider.batches(items):
        for b, (item, size) in enumerate(zip(batch.items, batch.sizes)):
            out[item.key] = (size, batch.embeddings.global_[b], batch.embeddings.patches[b])
    return out, {k: v for k, v in provider.stats.items() if v}


def same(a: dict, b: dict, atol: float = 0.0) -> bool:
    """Same images, sizes and embeddings: bit for bit, or to `atol` where only some images were recomputed
    (then they ran in other batches, and a convolution's float rounding may depend on the batch)."""
    return a.keys() == b.keys() and all(
        a[k][0] == b[k][0] and torch.allclose(a[k][1], b[k][1], rtol=0, atol=atol)
        and torch.allclose(a[k][2], b[k][2], rtol=0, atol=atol) for k in a)


def test_identical_configuration_hits_with_identical_embeddings(checkpoints, items, tmp_path: Path) -> None:
    adapter = build_biovil(checkpoint=str(checkpoints[0]))
    plain, stats = embed(adapter, items)
    assert stats == {"decoded": 4}
    cold, stats = embed(adapter, items, EvalCache(tmp_path / "c"), workers=2)
    assert stats == {"decoded": 4} and same(cold, plain)
    warm, stats = embed(build_biovil(checkpoint=str(checkpoints[0])), items, EvalCache(tmp_path / "c"))
    assert stats == {"embedding hits": 4} and same(warm, plain)
    renamed = [ImageItem(it.key, it.path.rename(it.path.with_name("copy-" + it.path.name))) for it in items]
    assert embed(adapter, renamed, EvalCache(tmp_path / "c"))[1] == {"embedding hits": 4}  # keyed by content


def test_other_weights_miss_the_embeddings_but_reuse_the_crops(checkpoints, items, tmp_path: Path) -> None:
    embed(build_biovil(checkpoint=str(checkpoints[0])), items, EvalCache(tmp_path / "c"))
    other = build_biovil(checkpoint=str(checkpoints[1]))
    got, stats = embed(other, items, EvalCache(tmp_path / "c"))
    assert stats == {"pixel hits": 4} and same(got, embed(other, items)[0])


def test_other_geometry_or_precision_misses(checkpoints, items, tmp_path: Path) -> None:
    embed(build_biovil(checkpoint=str(checkpoints[0])), items, EvalCache(tmp_path / "c"))
    smaller = build_biovil(checkpoint=str(checkpoints[0]), crop="96")
    assert embed(smaller, items, EvalCache(tmp_path / "c"))[1] == {"decoded": 4}
    bf16 = Runtime(torch.device("cpu"), "bf16")  # CPU autocast: a different numerical result, another key
    assert embed(build_biovil(checkpoint=str(checkpoints[0])), items, EvalCache(tmp_path / "c"), bf16)[1] == {
        "pixel hits": 4}


def test_changed_image_bytes_miss(checkpoints, items, tmp_path: Path) -> None:
    adapter = build_biovil(checkpoint=str(checkpoints[0]))
    embed(adapter, items, EvalCache(tmp_path / "c"))
    pixels = np.asarray(Image.open(items[2].path)).copy()
    pixels[10, 10] ^= 1  # one grey level of one pixel
    Image.fromarray(pixels).save(items[2].path)
    got, stats = embed(adapter, items, EvalCache(tmp_path / "c"))
    assert stats == {"embedding hits": 3, "decoded": 1} and same(got, embed(adapter, items)[0], atol=1e-6)


def test_adapters_without_a_weights_sha256_are_fingerprinted(items, tmp_path: Path) -> None:
    assert RandomCNNAdapter().meta.weights_sha256 is None
    embed(RandomCNNAdapter(seed=0), items, EvalCache(tmp_path / "c"))
    assert embed(RandomCNNAdapter(seed=0), items, EvalCache(tmp_path / "c"))[1] == {"embedding hits": 4}
    assert embed(RandomCNNAdapter(seed=1), items, EvalCache(tmp_path / "c"))[1] == {"pixel hits": 4}


def test_a_broken_entry_is_a_miss_and_is_rewritten(items, tmp_path: Path) -> None:
    adapter = RandomCNNAdapter()
    embed(adapter, items, EvalCache(tmp_path / "c"))
    entries = sorted((tmp_path / "c").glob("v1/images/*/*/*.safetensors"))
    assert len(entries) == 4
    entries[0].write_bytes(entries[0].read_bytes()[:50])  # truncated, as by a full disk
    got, stats = embed(adapter, items, EvalCache(tmp_path / "c"))
    assert stats == {"embedding hits": 3, "pixel hits": 1} and same(got, embed(adapter, items)[0], atol=1e-6)
    assert embed(adapter, items, EvalCache(tmp_path / "c"))[1] == {"embedding hits": 4}


def _writer(path: Path, value: int, rounds: int) -> None:
    torch.set_num_threads(1)  # a forked child must not enter the parent's OpenMP pool (as DataLoader workers)
    for _ in range(rounds):
        save_entry(path, {"x": torch.full((256, 256), value, dtype=torch.int32)}, {"size": "1,1"})


def test_concurrent_writers_never_expose_a_partial_entry(tmp_path: Path) -> None:
    path = tmp_path / "entry.safetensors"
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(path, v, 40)) for v in (1, 2)]
    for p in procs:
        p.start()
    seen, deadline = set(), time.monotonic() + 60
    while any(p.is_alive() for p in procs) and time.monotonic() < deadline:
        got = load_entry(path)
        if got is not None:  # absent at first; afterwards always a whole entry of one writer
            values = got[0]["x"].unique().tolist()
            assert len(values) == 1 and got[0]["x"].shape == (256, 256)
            seen.add(values[0])
    for p in procs:
        p.join(timeout=1)
    assert all(p.exitcode == 0 for p in procs) and seen <= {1, 2}
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary file left behind


def test_task_results_are_identical_with_and_without_the_cache(toyworld_root: Path, tmp_path: Path) -> None:
    base = dict(adapter=RandomCNNAdapter(), adapter_name="test-random-cnn", runtime=CPU, data_root=toyworld_root,
                num_workers=0, batch_size=8, n_bootstrap=20, progress=False)
    fields = {"samples", "metrics", "per_category", "skipped"}
    runs = []
    for cache in (None, EvalCache(tmp_path / "c"), EvalCache(tmp_path / "c")):
        profile.reset()
        result = run_named("ms-cxr", **base, cache=cache)
        runs.append((result.model_dump(include=fields), dict(profile.TALLIES)))
    assert runs[0][0] == runs[1][0] == runs[2][0]
    n_images = runs[0][1]["decoded"]
    assert runs[2][1] == {"embedding hits": n_images, "text hits": runs[1][1]["texts encoded"]}


def test_rsna_seg_reads_what_rsna_cls_stored(toyworld_root: Path, tmp_path: Path) -> None:
    base = dict(adapter=RandomCNNAdapter(), adapter_name="test-random-cnn", runtime=CPU, data_root=toyworld_root,
                num_workers=0, n_bootstrap=0, progress=False, cache=EvalCache(tmp_path / "c"))
    profile.reset()
    cls = run_named("rsna-cls", {"split": "all"}, **base)
    assert profile.TALLIES["decoded"] == len(cls.samples)
    profile.reset()
    seg = run_named("rsna-seg", {"split": "all"}, **base)
    assert profile.TALLIES.get("decoded", 0) == 0 and profile.TALLIES["embedding hits"] == len(seg.samples) > 0


def test_cli_cache_dir_and_no_cache(toyworld_root: Path, tmp_path: Path, test_adapters, monkeypatch) -> None:
    from click.testing import CliRunner

    from msxr_bench.cli import main

    args = ["evaluate", "--model", "test-random-cnn", "--task", "rsna-cls", "--split", "all", "--data-root",
            str(toyworld_root), "--output", str(tmp_path / "out"), "--num-workers", "0", "--bootstrap", "0"]
    monkeypatch.setenv("MSXR_EVAL_CACHE", str(tmp_path / "env-cache"))
    off = CliRunner().invoke(main, [*args, "--no-cache"])
    assert off.exit_code == 0, off.output
    assert not (tmp_path / "env-cache").exists() and "embedding hits" not in off.output
    cold = CliRunner().invoke(main, args)  # the environment variable turns the cache on
    assert cold.exit_code == 0 and "decoded 24" in cold.output
    warm = CliRunner().invoke(main, [*args, "--cache-dir", str(tmp_path / "env-cache")])
    assert warm.exit_code == 0 and "embedding hits 24" in warm.output and "decoded" not in warm.output
    assert len(list((tmp_path / "env-cache").glob("v1/images/*/*/*.safetensors"))) == 24
