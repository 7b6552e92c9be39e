"""The streamed engine: uint8 single-channel crops from the workers become exactly the float inputs of
`preprocess`; batches are [1, B, B, ...] whatever the number of workers; nothing per image is retained after
its batch; stage timings are accounted; fp32 and (CPU) bf16 autocast runs agree closely (differences printed).
CUDA is not available here: the CUDA path (pinned memory, non-blocking copies) is covered when it is."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from adapters_for_tests import RandomCNNAdapter
from msxr_bench.geometry.types import Geometry
from msxr_bench.adapters.biovil import build_biovil
from msxr_bench.geometry import preprocess
from msxr_bench.engine import ImageItem, ModelImageEmbeddings, Runtime, profile, resolve_runtime
from msxr_bench.engine.images import ImageDecodeDataset
from msxr_bench.engine.pixels import preprocess_uint8, to_model_input
from task_helpers import run_named
from test_cache import tiny_biovil_checkpoint

CPU = resolve_runtime("cpu")
GEOMETRIES = [Geometry("resize_crop", 512, 480, (15, 15), 1.5), Geometry("letterbox_crop", 256, 224, (7, 7)),
              Geometry("resize_crop", 160, 128, (4, 4))]


@pytest.mark.parametrize("geometry", GEOMETRIES, ids=lambda g: f"{g.kind}-{g.resize}-{g.crop}")
@pytest.mark.parametrize("shape", [(3056, 2544), (2544, 3056), (333, 401), (700, 700)])
def test_uint8_crops_become_exactly_the_float_inputs(geometry: Geometry, shape: tuple[int, int]) -> None:
    image = np.random.default_rng(sum(shape)).integers(0, 256, shape, dtype=np.uint8)
    crop = preprocess_uint8(image, geometry)
    assert crop.dtype == np.uint8 and crop.shape == (geometry.crop, geometry.crop) and crop.flags.writeable
    x = to_model_input(torch.from_numpy(crop)[None], geometry.channels, torch.device("cpu"))
    assert x.dtype == torch.float32 and torch.equal(x, preprocess(image, geometry)[None])


@pytest.fixture
def items(tmp_path: Path) -> list[ImageItem]:
    rng = np.random.default_rng(5)
    out = []
    for i in range(7):
        path = tmp_path / f"img{i}.jpg"
        Image.fromarray(rng.integers(0, 255, (90 + 7 * i, 80), dtype=np.uint8)).save(path)
        out.append(ImageItem(f"k{i}", path))
    return out


def test_workers_send_single_channel_uint8_crops(items: list[ImageItem]) -> None:
    geometry = RandomCNNAdapter(crop=64).geometry
    record = ImageDecodeDataset(items, geometry)[0]
    assert record["crop"].dtype == torch.uint8 and tuple(record["crop"].shape) == (64, 64)
    float_input = preprocess(np.asarray(Image.open(items[0].path)), geometry)
    assert float_input.nbytes == 12 * record["crop"].nbytes  # 3 channels x 4 bytes


@pytest.mark.parametrize("workers", [0, 2])
def test_batches_are_a_quarter_then_full_and_nothing_is_retained(items: list[ImageItem], workers: int) -> None:
    adapter = RandomCNNAdapter().eval()
    provider = ModelImageEmbeddings(adapter, CPU, batch_size=4, num_workers=workers, progress=None)
    sizes, alive = [], []
    for batch in provider.batches(items):
        sizes.append(len(batch.items))
        alive.append(weakref.ref(batch.embeddings.patches))
        del batch
    gc.collect()
    assert sizes == [1, 4, 2] and not any(ref() is not None for ref in alive)  # the engine keeps no batch


def test_the_loader_pins_memory_for_cuda_only(items: list[ImageItem], monkeypatch) -> None:
    pinned = []
    monkeypatch.setattr(torch.Tensor, "pin_memory", lambda self, *a: pinned.append(self.shape) or self)
    monkeypatch.setattr("msxr_bench.engine.images.to_model_input", lambda crops, c, d: to_model_input(crops, c, CPU.device))
    adapter = RandomCNNAdapter().eval()
    list(ModelImageEmbeddings(adapter, CPU, batch_size=4, progress=None).batches(items))
    assert pinned == []
    list(ModelImageEmbeddings(adapter, Runtime(torch.device("cuda")), batch_size=4, progress=None).batches(items))
    assert [tuple(s) for s in pinned] == [(1, 64, 64), (4, 64, 64), (2, 64, 64)]  # [B/4, B, rest]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")
def test_cuda_gives_the_cpu_numbers(items: list[ImageItem]) -> None:
    adapter = RandomCNNAdapter().eval()
    cpu = list(ModelImageEmbeddings(adapter, CPU, batch_size=3, progress=None).batches(items))
    gpu_adapter = RandomCNNAdapter().eval().cuda()
    gpu = list(ModelImageEmbeddings(gpu_adapter, resolve_runtime("cuda"), batch_size=3, num_workers=2,
                                    progress=None).batches(items))
    for a, b in zip(cpu, gpu):
        assert b.embeddings.patches.device.type == "cuda"
        assert torch.allclose(a.embeddings.patches, b.embeddings.patches.cpu(), atol=1e-5)


@pytest.fixture(scope="module")
def tiny_biovil(tmp_path_factory):
    return build_biovil(checkpoint=str(tiny_biovil_checkpoint(tmp_path_factory.mktemp("ckpt") / "biovil")))


def test_stages_are_timed_and_counted(toyworld_root: Path, tiny_biovil) -> None:
    profile.reset()
    result = run_named("ms-cxr", adapter=tiny_biovil, adapter_name="biovil", data_root=toyworld_root, num_workers=2,
                       n_bootstrap=0, limit=12)
    stages = profile.summary()
    assert {"decode", "resize", "wait", "forward", "texts", "maps", "metrics"} <= set(stages)
    assert all(seconds > 0 for seconds in stages.values())
    assert profile.TALLIES["decoded"] == len({r["dicom_id"] for r in result.samples})
    line = profile.format_summary(1.0, num_workers=2)
    assert "forward" in line and "decoded" in line
    main, parallel = line.split("in parallel with the above")  # worker seconds are not wall time: said apart
    assert "decode" not in main.replace("decode worker", "") and "decode" in parallel and "forward" not in parallel


def test_bf16_autocast_agrees_with_fp32(toyworld_root: Path, tiny_biovil) -> None:
    """CPU bf16 autocast exercises the reduced-precision path (on CUDA it is `--precision bf16`)."""
    runs = {}
    for precision in ("fp32", "bf16"):
        runs[precision] = run_named("ms-cxr", adapter=tiny_biovil, runtime=Runtime(torch.device("cpu"), precision),
                                    data_root=toyworld_root, num_workers=0, n_bootstrap=0)
    fp32, bf16 = runs["fp32"], runs["bf16"]
    cnr32 = np.array([r["cnr"] for r in fp32.samples])
    cnr16 = np.array([r["cnr"] for r in bf16.samples])
    assert not np.array_equal(cnr32, cnr16)  # the forward really ran in bf16
    diffs = {name: abs(fp32.metrics[name].value - bf16.metrics[name].value) for name in fp32.metrics}
    print("\nfp32 vs bf16 autocast (CPU, tiny BioViL, toy world): |difference| of each metric")
    for name, d in diffs.items():
        print(f"  {name:<24} {d:.2e}")
    print(f"  per-sample CNR: max {np.max(np.abs(cnr32 - cnr16)):.2e}, median {np.median(np.abs(cnr32 - cnr16)):.2e}")
    assert max(diffs.values()) < 0.05 and np.median(np.abs(cnr32 - cnr16)) < 0.02
