"""BioViL / BioViL-T adapters vs the official hi-ml-multimodal 0.2.2 engine (the oracle, run in its own venv
by tests/parity/oracle_biovil.py on random but discriminating weights saved in the released formats).

Claim: on 8/16-bit PNG, grey and RGB JPEG and DICOM inputs (portrait, landscape, MIMIC-size, small), our
decoded inputs are identical, and embeddings, smoothed grids and full-resolution maps agree to 1e-4 with
identical NaN masks. Negative controls show that real mistakes (a crop 1 px off, a resize without
antialiasing, a kept trailing ".", the other map placement) break that tolerance by orders of magnitude.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from msxr_bench.adapters.biovil import build_biovil, build_biovil_t
from msxr_bench.inference import ground_phrases, similarity_score
from msxr_bench.geometry import grid_to_image, preprocess, smooth_grid
from msxr_bench.data.images import load_image
from oracle_runner import run_cached

pytestmark = [pytest.mark.oracle, pytest.mark.slow]
HERE = Path(__file__).resolve().parent
TOL = 1e-4
MODEL_KEYS = ("biovil", "biovil_t")


@dataclass
class Oracle:
    root: Path
    manifest: dict
    arrays: dict

    def __getitem__(self, key: str) -> np.ndarray:
        return self.arrays[key]


@pytest.fixture(scope="module")
def oracle() -> Oracle:
    root = run_cached(HERE / "oracle_biovil.py", "biovil")
    with np.load(root / "outputs.npz") as npz:
        arrays = {k: npz[k] for k in npz.files}
    return Oracle(root, json.loads((root / "manifest.json").read_text()), arrays)


@dataclass
class Ours:
    key: str
    adapter: object
    inputs: torch.Tensor  # [N, 3, crop, crop]
    patches: np.ndarray
    global_: np.ndarray
    grids: np.ndarray  # [N, P, h, w] smoothed


_OURS: dict[str, Ours] = {}


@pytest.fixture(scope="module", params=MODEL_KEYS)
def ours(request, oracle: Oracle) -> Ours:
    if request.param not in _OURS:
        _OURS[request.param] = _compute_ours(oracle, request.param)
    return _OURS[request.param]


@pytest.fixture(scope="module")
def ours_t(oracle: Oracle) -> Ours:
    if "biovil_t" not in _OURS:
        _OURS["biovil_t"] = _compute_ours(oracle, "biovil_t")
    return _OURS["biovil_t"]


def _compute_ours(oracle: Oracle, key: str) -> Ours:
    """Our adapter on the oracle's files: inputs, embeddings and smoothed grids of every image."""
    torch.set_num_threads(2)
    info = oracle.manifest["models"][key]
    text = oracle.manifest["text_models"]["safetensors" if key == "biovil" else "bin"]
    build = build_biovil if key == "biovil" else build_biovil_t
    adapter = build(image_weights=str(oracle.root / info["weights"]), text_model=str(oracle.root / text),
                    verify="false")
    names = [img[0] for img in oracle.manifest["images"]]
    inputs = torch.stack([preprocess(load_image(oracle.root / "images" / n), adapter.geometry) for n in names])
    with torch.no_grad():
        emb = adapter.encode_images(inputs)
        texts = adapter.encode_texts(oracle.manifest["phrases"])
        grids = smooth_grid(adapter.similarity_grid(emb, texts), adapter.geometry.smoothing_sigma)
    return Ours(key, adapter, inputs, emb.patches.numpy(), emb.global_.numpy(), grids.numpy())


def _names(oracle: Oracle) -> list[str]:
    return [img[0] for img in oracle.manifest["images"]]


def _max_diff(a: np.ndarray, b: np.ndarray) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.nanmax(np.abs(a.astype(np.float64) - b.astype(np.float64))))


WORST: dict[str, float] = {}  # the largest difference seen per quantity, printed at the end (pytest -s)
CONTROLS: dict[str, float] = {}  # what the deliberate mistakes of the negative controls move


def _close(mine: np.ndarray, theirs: np.ndarray, quantity: str, label: str = "") -> None:
    diff = _max_diff(mine, theirs)
    WORST[quantity] = max(WORST.get(quantity, 0.0), diff)
    assert diff <= TOL, f"{quantity} {label}: max abs difference {diff:.2e} > {TOL}"


@pytest.fixture(scope="module", autouse=True)
def _print_worst_differences():
    yield
    print("\nBioViL parity, max abs difference vs hi-ml-multimodal:")
    for quantity, diff in sorted(WORST.items()):
        print(f"  {quantity:<34} {diff:.2e}")
    print("negative controls (must exceed the tolerance):")
    for control, diff in sorted(CONTROLS.items()):
        print(f"  {control:<34} {diff:.2e}")


def test_decoded_and_preprocessed_inputs_are_identical(oracle: Oracle, ours: Ours) -> None:
    for i, name in enumerate(_names(oracle)):
        theirs = oracle[f"{ours.key}__{name}__input_u8"]
        mine = (ours.inputs[i] * 255).round().to(torch.uint8).numpy()
        assert (mine[0] == theirs).all(), f"{name}: {(mine[0] != theirs).sum()} pixels differ"
        assert (mine == mine[:1]).all()  # grey replicated over the 3 channels


def test_patch_and_global_embeddings_match(oracle: Oracle, ours: Ours) -> None:
    for i, name in enumerate(_names(oracle)):
        _close(ours.patches[i], oracle[f"{ours.key}__{name}__patches"], f"{ours.key} patch embeddings", name)
        _close(ours.global_[i], oracle[f"{ours.key}__{name}__global"], f"{ours.key} global embeddings", name)


def test_text_embeddings_and_token_ids_match(oracle: Oracle, ours: Ours) -> None:
    phrases = oracle.manifest["phrases"]
    ids = ours.adapter.tokenize(phrases)["input_ids"].numpy()
    assert (ids == oracle["input_ids"]).all()
    with torch.no_grad():
        normalized = ours.adapter.encode_texts(phrases).numpy()
        raw = ours.adapter.encode_texts(phrases, normalize=False).numpy()
    _close(normalized, oracle["text_normalized"], "text embeddings")
    _close(normalized, oracle["text_single"], "text embeddings")  # padding does not change an embedding
    _close(raw, oracle["text_raw"], "text projections (raw)")


def test_smoothed_grids_match(oracle: Oracle, ours: Ours) -> None:
    for i, name in enumerate(_names(oracle)):
        _close(ours.grids[i], oracle[f"{ours.key}__{name}__grids"], f"{ours.key} smoothed grids", name)


def _oracle_maps(oracle: Oracle, key: str, name: str, interpolation: str) -> list[tuple[int, np.ndarray]]:
    prefix = f"{key}__{name}__map_{interpolation}_"
    return sorted((int(k[len(prefix):]), v) for k, v in oracle.arrays.items() if k.startswith(prefix))


def _assert_same_map(mine: np.ndarray, theirs: np.ndarray, quantity: str, label: str) -> None:
    assert mine.shape == theirs.shape and mine.dtype == np.float32, label
    assert (np.isnan(mine) == np.isnan(theirs)).all(), f"{label}: NaN masks differ"
    _close(mine, theirs, quantity, label)


def test_full_resolution_maps_match_with_identical_nan_masks(oracle: Oracle, ours: Ours) -> None:
    n_checked = 0
    for i, name in enumerate(_names(oracle)):
        h, w = oracle.manifest["models"][ours.key]["sizes"][name]
        for interpolation in ("nearest", "bilinear"):
            for p, theirs in _oracle_maps(oracle, ours.key, name, interpolation):
                mine = grid_to_image(torch.from_numpy(ours.grids[i, p]), ours.adapter.geometry, h, w,
                                     placement=ours.adapter.map_placement, interpolation=interpolation)
                _assert_same_map(mine.numpy(), theirs, f"{ours.key} maps {interpolation}",
                                 f"{name} phrase {p}")
                n_checked += 1
    assert n_checked >= 30


@pytest.mark.parametrize("name", ["mimic_portrait.jpg", "rgb_small.jpg"])
def test_single_image_engine_matches_get_similarity_map_from_raw_data(oracle: Oracle, ours: Ours, name: str) -> None:
    phrases = oracle.manifest["phrases"]
    for interpolation in ("nearest", "bilinear"):
        expected = _oracle_maps(oracle, ours.key, name, interpolation)
        result = ground_phrases(ours.adapter, oracle.root / "images" / name, [phrases[p] for p, _ in expected],
                                interpolation=interpolation)
        for j, (p, theirs) in enumerate(expected):
            _assert_same_map(result.maps[j], theirs, f"{ours.key} maps {interpolation}", f"{name} phrase {p}")
    score = similarity_score(ours.adapter, oracle.root / "images" / name, oracle.manifest["prompt_list"])
    _close(np.float64(score), oracle[f"{ours.key}__{name}__prompt_list_score"], f"{ours.key} prompt-list score")


def test_prompt_list_scores_match(oracle: Oracle, ours: Ours) -> None:
    with torch.no_grad():
        prompts = ours.adapter.embed_prompt_list(oracle.manifest["prompt_list"]).numpy()
    for i, name in enumerate(_names(oracle)):
        score = float(ours.global_[i] @ prompts)
        _close(np.float64(score), oracle[f"{ours.key}__{name}__prompt_list_score"], f"{ours.key} prompt-list score")


def test_biovil_t_prior_image_path_matches(oracle: Oracle, ours_t: Ours) -> None:
    ours = ours_t
    names = _names(oracle)
    for i, (cur, prev) in enumerate(oracle.manifest["models"]["biovil_t"]["pairs"]):
        with torch.no_grad():
            mine = ours.adapter.projected_patches(ours.inputs[names.index(cur)][None],
                                                  ours.inputs[names.index(prev)][None])[0].numpy()
            alone = ours.adapter.projected_patches(ours.inputs[names.index(cur)][None])[0].numpy()
        theirs = oracle[f"biovil_t__pair{i}__projected_raw"]
        _close(mine, theirs, "biovil_t prior-image path")
        assert _max_diff(alone, theirs) > 1e-2  # the ViT pooler really takes part


def test_random_weights_discriminate(oracle: Oracle, ours: Ours) -> None:
    text = oracle["text_normalized"]
    cos = text @ text.T
    assert cos[~np.eye(len(cos), dtype=bool)].max() < 0.99
    g = np.stack([oracle[f"{ours.key}__{n}__global"] for n in _names(oracle)])
    cos = g @ g.T
    assert cos[~np.eye(len(cos), dtype=bool)].max() < 0.99
    assert np.ptp(ours.grids) > 0.1  # maps are not flat


def test_prompt_errors_as_the_official_engine(oracle: Oracle, ours: Ours) -> None:
    assert oracle.manifest["errors"] == {"special_token": "ValueError", "too_long": "ValueError"}
    with pytest.raises(ValueError, match="special token"):
        ours.adapter.encode_texts(["effusion [SEP] edema"])
    with pytest.raises(ValueError, match="limit of 512"):
        ours.adapter.encode_texts(["effusion " * 600])


# ---- negative controls: the tolerance separates real mistakes from float noise -------------------------
def _resized_uint8(oracle: Oracle, name: str, resize: int) -> np.ndarray:
    image = load_image(oracle.root / "images" / name)
    h, w = image.shape
    nh, nw = (resize, int(resize * w / h)) if h <= w else (int(resize * h / w), resize)
    return np.asarray(Image.fromarray(image).resize((nw, nh), Image.Resampling.BILINEAR))


def _patch_diff(ours: Ours, oracle: Oracle, name: str, x: np.ndarray) -> float:
    tensor = torch.from_numpy(np.ascontiguousarray(x)).float().div(255)[None].repeat(3, 1, 1)[None]
    with torch.no_grad():
        patches = ours.adapter.encode_images(tensor).patches[0].numpy()
    return _max_diff(patches, oracle[f"{ours.key}__{name}__patches"])


def test_negative_control_crop_one_pixel_off_breaks_tolerance(oracle: Oracle, ours: Ours) -> None:
    name, g = "rgb_small.jpg", ours.adapter.geometry
    resized = _resized_uint8(oracle, name, g.resize)
    top, left = round((resized.shape[0] - g.crop) / 2), round((resized.shape[1] - g.crop) / 2)
    assert _patch_diff(ours, oracle, name, resized[top : top + g.crop, left : left + g.crop]) <= TOL
    diff = _patch_diff(ours, oracle, name, resized[top + 1 : top + 1 + g.crop, left : left + g.crop])
    CONTROLS[f"{ours.key} crop 1 px off"] = diff
    assert diff > 100 * TOL


def test_negative_control_resize_without_antialias_breaks_tolerance(oracle: Oracle, ours: Ours) -> None:
    name, g = "landscape_16bit.png", ours.adapter.geometry
    image = torch.from_numpy(np.array(load_image(oracle.root / "images" / name))).float()[None, None]
    good = _resized_uint8(oracle, name, g.resize)
    bad = F.interpolate(image, size=good.shape, mode="bilinear", align_corners=False, antialias=False)
    bad = bad[0, 0].round().clamp(0, 255).to(torch.uint8).numpy()
    top, left = round((good.shape[0] - g.crop) / 2), round((good.shape[1] - g.crop) / 2)
    diff = _patch_diff(ours, oracle, name, bad[top : top + g.crop, left : left + g.crop])
    CONTROLS[f"{ours.key} resize without antialias"] = diff
    assert diff > 100 * TOL


def test_negative_control_kept_trailing_period_breaks_tolerance(oracle: Oracle, ours: Ours) -> None:
    phrases = oracle.manifest["phrases"]
    p = phrases.index("Left basilar consolidation seen.")
    batch = ours.adapter.tokenizer([phrases[p]], return_tensors="pt")  # the "." kept
    with torch.no_grad():
        kept = ours.adapter.text_model.get_projected_text_embeddings(batch["input_ids"], batch["attention_mask"])
    diff = _max_diff(kept[0].numpy(), oracle["text_normalized"][p])
    CONTROLS["text with its trailing '.'"] = diff
    assert diff > 100 * TOL


def test_negative_control_exact_placement_differs_from_official(oracle: Oracle, ours: Ours) -> None:
    name = "mimic_portrait.jpg"
    h, w = oracle.manifest["models"][ours.key]["sizes"][name]
    theirs = oracle[f"{ours.key}__{name}__map_nearest_0"]
    grid = torch.from_numpy(ours.grids[0, 0])
    official = grid_to_image(grid, ours.adapter.geometry, h, w, placement="official").numpy()
    exact = grid_to_image(grid, ours.adapter.geometry, h, w, placement="exact").numpy()
    assert (np.isnan(official) == np.isnan(theirs)).all()
    differ = int((np.isnan(exact) != np.isnan(theirs)).sum())
    CONTROLS[f"{ours.key} exact placement: NaN px differ"] = differ
    assert differ > 1000
