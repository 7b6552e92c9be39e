"""The BioViL / BioViL-T oracle: run by the parity test inside the hi-ml-multimodal venv
(scripts/oracle_env.sh), never imported by msxr-bench.

    python oracle_biovil.py OUT_DIR

It writes synthetic radiographs in several formats and sizes, builds random-weight models with the official
classes and makes them discriminate (specs/biovil-reference.md §8), saves them in the released formats, and
records what the official inference engine computes (`outputs.npz`, `manifest.json`).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import tv_cpu_shim  # noqa: E402,F401  (before anything imports torchvision)

warnings.filterwarnings("ignore", category=FutureWarning, module="timm")  # timm.models.layers deprecation

import numpy as np  # noqa: E402
import torch  # noqa: E402
from health_multimodal.image import ImageInferenceEngine  # noqa: E402
from health_multimodal.image.data.io import load_image  # noqa: E402
from health_multimodal.image.data.transforms import create_chest_xray_transform_for_inference  # noqa: E402
from health_multimodal.image.model.model import ImageModel, MultiImageModel  # noqa: E402
from health_multimodal.text.inference_engine import TextInferenceEngine  # noqa: E402
from health_multimodal.text.model import CXRBertConfig, CXRBertModel, CXRBertTokenizer  # noqa: E402
from health_multimodal.vlp.inference_engine import ImageTextInferenceEngine  # noqa: E402
from PIL import Image  # noqa: E402
from pydicom.dataset import Dataset, FileMetaDataset  # noqa: E402
from pydicom.uid import ExplicitVRLittleEndian  # noqa: E402

# (file name, width, height, kind); kind: gray8 png / gray16 png / gray jpeg / rgb jpeg / dicom
IMAGES = [
    ("mimic_portrait.jpg", 2544, 3056, "jpeg_gray"),
    ("landscape_16bit.png", 3056, 2544, "png16"),
    ("rgb_small.jpg", 600, 500, "jpeg_rgb"),
    ("scan.dcm", 1000, 1200, "dicom"),
    ("small_8bit.png", 401, 333, "png8"),
]
BIG = {"mimic_portrait.jpg", "landscape_16bit.png"}
PHRASES = [
    "Left basilar consolidation seen.",
    "CARDIOMEGALY!",
    "Small right pleural effusion",
    "no pneumothorax?",
    "Patchy opacity in the right lower lobe.",
    "cardiomegaly. ",
    "[MASK] pleural effusion",
    "mild pulmonary edema",
]
PROMPT_LIST = ["Findings suggesting pneumonia", "Findings consistent with pneumonia."]
MODELS = {"biovil": ("resnet50", 480, "biovil_image_resnet50_proj_size_128.pt"),
          "biovil_t": ("resnet50_multi_image", 448, "biovil_t_image_model_proj_size_128.pt")}
PAIRS = [("mimic_portrait.jpg", "landscape_16bit.png"), ("rgb_small.jpg", "scan.dcm")]
WORDS = ("the of and in is no with seen small mild left right lower lobe basilar pleural effusion consolidation "
         "opacity patchy cardiomegaly pneumothorax pulmonary edema findings suggesting consistent pneumonia").split()


def radiograph(width: int, height: int, seed: int) -> np.ndarray:
    """A float image in [0, 1]: bright thorax, two dark lungs, ribs, a few bright lesions, noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    yy, xx = yy / height, xx / width
    img = 0.5 + 0.3 * rng.random() * yy + 0.1 * rng.random() * xx
    for cx in (0.3 + 0.05 * rng.standard_normal(), 0.7 + 0.05 * rng.standard_normal()):
        img -= 0.35 * ((((xx - cx) / rng.uniform(0.12, 0.2)) ** 2 + ((yy - 0.5) / rng.uniform(0.25, 0.4)) ** 2) < 1)
    img += 0.06 * np.sin(yy * rng.uniform(30, 60) + rng.uniform(0, 6))
    for _ in range(rng.integers(1, 7)):
        bx, by, r = rng.uniform(0.15, 0.85), rng.uniform(0.2, 0.8), rng.uniform(0.03, 0.2)
        img += rng.uniform(-0.3, 0.6) * np.exp(-(((xx - bx) ** 2 + (yy - by) ** 2) / r**2))
    img += rng.uniform(0.01, 0.08) * rng.standard_normal((height, width))
    return np.clip(img, 0, 1) ** rng.uniform(0.5, 2.0)  # contrast differs between images


def write_dicom(path: Path, pixels: np.ndarray) -> None:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    meta.MediaStorageSOPInstanceUID = "1.2.3.4.5"
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = meta.MediaStorageSOPClassUID, "1.2.3.4.5", "CR"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = pixels.astype(np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)


def write_images(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for i, (name, w, h, kind) in enumerate(IMAGES):
        img = radiograph(w, h, seed=100 + i)
        if kind == "png8":
            Image.fromarray((img * 230 + 10).astype(np.uint8)).save(directory / name)
        elif kind == "png16":
            Image.fromarray((img * 3000 + 500).astype(np.uint16)).save(directory / name)
        elif kind == "jpeg_gray":
            Image.fromarray((img * 255).astype(np.uint8)).save(directory / name, quality=92)
        elif kind == "jpeg_rgb":
            rgb = np.stack([img * 240, img * 220 + 20, img * 200 + 30], axis=-1).astype(np.uint8)
            Image.fromarray(rgb).save(directory / name, quality=92)
        else:
            write_dicom(directory / name, img * 4000 + 50)


@torch.no_grad()
def discriminate_image_model(model: torch.nn.Module, seed: int) -> None:
    """Random BN affine (bn3 x0.1), random BioViL-T extras, BN statistics fitted in float64 (spec §8)."""
    g = torch.Generator().manual_seed(seed)
    for name, m in model.named_modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.weight.copy_(torch.empty(m.weight.shape).uniform_(0.5, 1.5, generator=g))
            m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=g))
            if name.endswith("bn3"):
                m.weight.mul_(0.1)
        elif isinstance(m, torch.nn.LayerNorm):
            m.weight.copy_(torch.empty(m.weight.shape).uniform_(0.5, 1.5, generator=g))
            m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=g))
    for name, p in model.named_parameters():
        if name.endswith(("missing_previous_emb", "type_embed")):
            p.copy_(0.5 * torch.randn(p.shape, generator=g))
    transform = create_chest_xray_transform_for_inference(resize=224, center_crop_size=224)
    batch = torch.stack([transform(Image.fromarray((radiograph(300, 280, s) * 255).astype(np.uint8)))
                         for s in range(seed, seed + 3)])
    model.double().train()
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None
    model(batch.double())
    model.float().eval()


def memoize_forward(model: torch.nn.Module) -> None:
    """Cache the image model's forward per input: the engine re-encodes the image for every phrase.

    Only the network call is cached; loading, transforms, smoothing and resizing still run per call.
    """
    forward, cache = model.forward, {}

    def cached(x: torch.Tensor):
        key = hashlib.sha1(x.detach().cpu().numpy().tobytes()).hexdigest() + str(tuple(x.shape))
        if key not in cache:
            cache[key] = forward(x)
        return cache[key]

    model.forward = cached


def build_text_model(directory: Path) -> tuple[Path, Path]:
    """Random discriminative CXR-BERT: save_pretrained dir (cxr-bert) and a hub-v1.0-like .bin dir (bert)."""
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list(".,!?-'") + [chr(c) for c in range(97, 123)]
    vocab += ["##" + chr(c) for c in range(97, 123)] + list(dict.fromkeys(WORDS))
    # BERT-base's layout at a smaller size (the code path does not depend on depth or width)
    config = CXRBertConfig(vocab_size=len(vocab), hidden_size=256, num_hidden_layers=3, num_attention_heads=4,
                           intermediate_size=512, max_position_embeddings=512, projection_size=128,
                           hidden_dropout_prob=0.25, attention_probs_dropout_prob=0.25, initializer_range=0.3)
    torch.manual_seed(7)
    model = CXRBertModel(config).eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.LayerNorm):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.2)
    tokenizer_config = {"do_lower_case": True, "model_max_length": 512, "tokenizer_class": "CXRBertTokenizer"}
    st_dir, bin_dir = directory / "text_safetensors", directory / "text_bin"
    model.save_pretrained(st_dir)
    bin_dir.mkdir(parents=True, exist_ok=True)
    state = dict(model.state_dict())
    state["bert.embeddings.position_ids"] = torch.arange(512)[None]
    state["bert.pooler.dense.weight"] = torch.randn(256, 256)
    state["bert.pooler.dense.bias"] = torch.randn(256)
    torch.save(state, bin_dir / "pytorch_model.bin")
    cfg = json.loads((st_dir / "config.json").read_text())
    cfg.update(model_type="bert", architectures=["CXRBertModel"],
               auto_map={"AutoModel": "modeling_cxrbert.CXRBertModel"})  # as BioViL-T's v1.0 config
    (bin_dir / "config.json").write_text(json.dumps(cfg, indent=2))
    for d in (st_dir, bin_dir):
        (d / "vocab.txt").write_text("\n".join(vocab) + "\n")
        (d / "tokenizer_config.json").write_text(json.dumps(tokenizer_config))
    return st_dir, bin_dir


def run_model(key: str, out: Path, images: Path, text_engine: TextInferenceEngine, arrays: dict) -> dict:
    encoder_type, crop, filename = MODELS[key]
    model = ImageModel(img_encoder_type=encoder_type, joint_feature_size=128)
    discriminate_image_model(model, seed=11 if key == "biovil" else 23)
    weights = out / key / filename
    weights.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), weights)
    memoize_forward(model)
    transform = create_chest_xray_transform_for_inference(resize=512, center_crop_size=crop)
    engine = ImageTextInferenceEngine(ImageInferenceEngine(model, transform), text_engine)
    text_emb = text_engine.get_embeddings_from_prompt(PHRASES, normalize=True, verbose=False)
    info = {"weights": str(weights.relative_to(out)), "sizes": {}}
    for name, *_ in IMAGES:
        path = images / name
        x = transform(load_image(path))
        arrays[f"{key}__{name}__input_u8"] = (x[0] * 255).round().to(torch.uint8).numpy()
        patches, (width, height) = engine.image_inference_engine.get_projected_patch_embeddings(path)
        info["sizes"][name] = [height, width]
        arrays[f"{key}__{name}__patches"] = patches.numpy()
        arrays[f"{key}__{name}__global"] = engine.image_inference_engine.get_projected_global_embedding(path).numpy()
        arrays[f"{key}__{name}__grids"] = np.stack([
            engine._get_similarity_map_from_embeddings(patches, text_emb[p : p + 1]).numpy()
            for p in range(len(PHRASES))])
        arrays[f"{key}__{name}__prompt_list_score"] = np.float64(
            engine.get_similarity_score_from_raw_data(path, PROMPT_LIST))
        n_nearest, n_bilinear = (3, 1) if name in BIG else (len(PHRASES), 2)
        for p in range(n_nearest):
            arrays[f"{key}__{name}__map_nearest_{p}"] = engine.get_similarity_map_from_raw_data(path, PHRASES[p])
        for p in range(n_bilinear):
            arrays[f"{key}__{name}__map_bilinear_{p}"] = engine.get_similarity_map_from_raw_data(
                path, PHRASES[p], interpolation="bilinear")
    if key == "biovil_t":  # the prior-image path (MultiImageModel + ViT pooler), same weights file
        multi = MultiImageModel(img_encoder_type=encoder_type, joint_feature_size=128,
                                pretrained_model_path=weights).eval()
        for i, (cur, prev) in enumerate(PAIRS):
            xc, xp = transform(load_image(images / cur))[None], transform(load_image(images / prev))[None]
            with torch.no_grad():
                arrays[f"{key}__pair{i}__projected_raw"] = multi(xc, xp).projected_patch_embeddings[0].numpy()
        info["pairs"] = PAIRS
    return info


def log(message: str, _start: list = []) -> None:  # noqa: B006  (a process-wide start time)
    import time

    _start.append(_start[0] if _start else time.time())
    print(f"[oracle {time.time() - _start[0]:6.1f}s] {message}", file=sys.stderr, flush=True)


def main(out: Path) -> None:
    log("start")
    torch.set_num_threads(int(os.environ.get("ORACLE_THREADS", "2")))
    out.mkdir(parents=True, exist_ok=True)
    write_images(out / "images")
    st_dir, bin_dir = build_text_model(out)
    text_model = CXRBertModel.from_pretrained(st_dir).eval()
    tokenizer = CXRBertTokenizer.from_pretrained(st_dir)
    text_engine = TextInferenceEngine(tokenizer=tokenizer, text_model=text_model)
    arrays: dict[str, np.ndarray] = {
        "text_normalized": text_engine.get_embeddings_from_prompt(PHRASES, normalize=True, verbose=False).numpy(),
        "text_raw": text_engine.get_embeddings_from_prompt(PHRASES, normalize=False, verbose=False).numpy(),
        "text_single": np.concatenate([text_engine.get_embeddings_from_prompt(p, verbose=False).numpy()
                                       for p in PHRASES]),
        "input_ids": np.asarray(text_engine.tokenize_input_prompts(PHRASES, verbose=False).input_ids),
    }
    errors = {}
    for label, prompt in (("special_token", "effusion [SEP] edema"), ("too_long", "effusion " * 600)):
        try:
            text_engine.get_embeddings_from_prompt(prompt, verbose=False)
            errors[label] = None
        except ValueError as exc:
            errors[label] = type(exc).__name__
    manifest = {"images": [list(i) for i in IMAGES], "phrases": PHRASES, "prompt_list": PROMPT_LIST,
                "text_models": {"safetensors": st_dir.name, "bin": bin_dir.name}, "errors": errors, "models": {}}
    log("images and text model written")
    for key in MODELS:
        manifest["models"][key] = run_model(key, out, out / "images", text_engine, arrays)
        g = np.stack([arrays[f"{key}__{name}__global"] for name, *_ in IMAGES])
        log(f"{key} done; image-image cosine max {np.max(g @ g.T - 2 * np.eye(len(g))):.4f}")
    cos = arrays["text_normalized"] @ arrays["text_normalized"].T
    log(f"phrase-phrase cosine max {np.max(cos - 2 * np.eye(len(cos))):.4f}")
    np.savez_compressed(out / "outputs.npz", **arrays)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
