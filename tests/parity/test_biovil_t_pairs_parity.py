"""BioViL-T's two-image path vs hi-ml-multimodal 0.2.2's `MultiImageModel` (the oracle, run in its own venv by
tests/parity/oracle_biovil_t_pairs.py on random but discriminating weights saved in the released format).

Claim: for a batch of (current, prior) pairs from PNG, JPEG and DICOM files of several sizes, `encode_image_pairs`
gives hi-ml's projected patch embeddings and projected global embedding (L2-normalised) to 1e-4, with a prior and
without one (`previous=None`, hi-ml's absent-prior path, which is also its single-image inference); so does the
engine's pair provider reading the same files. Negative controls: the prior really changes the output, and swapping
current and prior (hi-ml's own swapped forward) breaks the tolerance by orders of magnitude.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from msxr_bench.adapters.biovil import build_biovil_t
from msxr_bench.data.images import load_image
from msxr_bench.engine import resolve_runtime
from msxr_bench.engine.image_pairs import ImagePairItem, ModelImagePairEmbeddings
from msxr_bench.geometry import preprocess
from oracle_runner import run_cached

pytestmark = [pytest.mark.oracle, pytest.mark.slow]
HERE = Path(__file__).resolve().parent
TOL = 1e-4
WORST: dict[str, float] = {}


@pytest.fixture(scope="module")
def oracle() -> tuple[Path, dict, dict]:
    root = run_cached(HERE / "oracle_biovil_t_pairs.py", "biovil-t-pairs", depends=(HERE / "oracle_biovil.py",))
    with np.load(root / "outputs.npz") as npz:
        arrays = {k: npz[k] for k in npz.files}
    return root, json.loads((root / "manifest.json").read_text()), arrays


@pytest.fixture(scope="module")
def ours(oracle):
    root, manifest, _ = oracle
    torch.set_num_threads(2)
    adapter = build_biovil_t(image_weights=str(root / manifest["weights"]), text_model=str(root / manifest["text_model"]),
                             verify="false")
    load = lambda name: preprocess(load_image(root / "images" / name), adapter.geometry)  # noqa: E731
    current = torch.stack([load(c) for c, _ in manifest["pairs"]])
    previous = torch.stack([load(p) for _, p in manifest["pairs"]])
    return adapter, current, previous


def _diff(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.abs(a - b).max())


def _close(mine, theirs, quantity: str) -> None:
    diff = _diff(mine, theirs)
    WORST[quantity] = max(WORST.get(quantity, 0.0), diff)
    assert diff <= TOL, f"{quantity}: max abs difference {diff:.2e} > {TOL}"


@pytest.fixture(scope="module", autouse=True)
def _print_worst():
    yield
    print("\nBioViL-T pair parity, max abs difference vs hi-ml's MultiImageModel:")
    for quantity, diff in sorted(WORST.items()):
        print(f"  {quantity:<40} {diff:.2e}")


def _expected(arrays: dict, key: str) -> tuple[np.ndarray, np.ndarray]:
    """(L2-normalised global [B, D], L2-normalised patches [B, h, w, D]) of one oracle forward."""
    glob = F.normalize(torch.from_numpy(arrays[f"{key}_projected_global"]), dim=-1).numpy()
    patches = F.normalize(torch.from_numpy(arrays[f"{key}_projected_patches"]), dim=1).permute(0, 2, 3, 1).numpy()
    return glob, patches


def test_inputs_are_hi_ml_crops(oracle, ours) -> None:
    _, _, arrays = oracle
    _, current, previous = ours
    assert ((current[:, 0] * 255).round().to(torch.uint8).numpy() == arrays["current_u8"]).all()
    assert ((previous[:, 0] * 255).round().to(torch.uint8).numpy() == arrays["previous_u8"]).all()


@pytest.mark.parametrize("key", ["paired", "absent"])
def test_encode_image_pairs_matches_multi_image_model(oracle, ours, key: str) -> None:
    _, _, arrays = oracle
    adapter, current, previous = ours
    with torch.no_grad():
        emb = adapter.encode_image_pairs(current, previous if key == "paired" else None)
    glob, patches = _expected(arrays, key)
    _close(emb.global_.numpy(), glob, f"{key}: global embedding (L2)")
    _close(emb.patches.numpy(), patches, f"{key}: patch embeddings (L2)")
    if key == "absent":  # the paired raw projections are checked by test_biovil_parity.py
        with torch.no_grad():
            raw = adapter.projected_patches(current, None)
        _close(raw.numpy(), arrays["absent_projected_patches"], "absent: projected patches (raw)")
        _close(raw.mean(dim=(2, 3)).numpy(), arrays["absent_projected_global"], "absent: projected global (raw)")


def test_absent_prior_is_hi_mls_single_image_inference(oracle, ours) -> None:
    _, _, arrays = oracle
    adapter, current, _ = ours
    with torch.no_grad():
        single = adapter.encode_images(current).global_.numpy()
    _close(F.normalize(torch.from_numpy(arrays["single_image_global"]), dim=-1).numpy(), _expected(arrays, "absent")[0],
           "hi-ml single image vs absent prior")
    _close(single, _expected(arrays, "absent")[0], "encode_images vs absent prior")


def test_engine_pair_provider_reads_files_to_the_same_numbers(oracle, ours) -> None:
    root, manifest, arrays = oracle
    adapter, _, _ = ours
    pairs = manifest["pairs"]
    items = [ImagePairItem(f"pair{i}", root / "images" / c, root / "images" / p) for i, (c, p) in enumerate(pairs)]
    items.append(ImagePairItem("alone", root / "images" / pairs[1][0], None))
    items.append(ImagePairItem("no-file", root / "images" / pairs[0][0], root / "images" / "absent.png"))
    provider = ModelImagePairEmbeddings(adapter, resolve_runtime("cpu"), batch_size=2, progress=None)
    got, failures = {}, []
    for batch in provider.batches(items):
        failures += batch.failures
        for k, item in enumerate(batch.items):
            got[item.key] = (batch.with_prior, batch.embeddings.global_[k].numpy(), batch.embeddings.patches[k].numpy())
    paired, absent = _expected(arrays, "paired"), _expected(arrays, "absent")
    for i in range(len(pairs)):
        assert got[f"pair{i}"][0] is True
        _close(got[f"pair{i}"][1], paired[0][i], "engine: global embedding (L2)")
        _close(got[f"pair{i}"][2], paired[1][i], "engine: patch embeddings (L2)")
    assert got["alone"][0] is False
    _close(got["alone"][1], absent[0][1], "engine: global embedding, no prior")
    assert [(f.item.key, f.reason) for f in failures] == [("no-file", "missing prior image")]


def test_negative_controls_break_the_tolerance(oracle) -> None:
    _, _, arrays = oracle
    paired, absent, swapped = (_expected(arrays, k)[0] for k in ("paired", "absent", "swapped"))
    assert _diff(paired, absent) > 100 * TOL  # the prior takes part
    assert _diff(paired, swapped) > 100 * TOL  # the order of the two images matters
    cos = paired @ paired.T
    assert cos[~np.eye(len(cos), dtype=bool)].max() < 0.99  # random weights that discriminate
