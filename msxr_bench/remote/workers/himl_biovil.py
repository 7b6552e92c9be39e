"""Worker entry: BioViL / BioViL-T computed by Microsoft's own code, `hi-ml-multimodal` (`health_multimodal`
0.2.2: its `ImageModel` / `MultiImageModel`, `CXRBertModel`, `CXRBertTokenizer` and `TextInferenceEngine`), on
the crops the harness sends. Runs in an environment holding hi-ml-multimodal, `transformers<5` and torch (the
parity oracle venv, scripts/oracle_env.sh); never imports msxr-bench.

    msxr-bench evaluate --model remote --model-arg python=~/.cache/msxr-bench/oracle-venv/bin/python \\
        --model-arg entry=msxr_bench.remote.workers.himl_biovil:make_adapter \\
        --model-arg arg.image_weights=biovil_image_resnet50_proj_size_128.pt --model-arg arg.text_model=DIR ...

Takes the released files (image `.pt`, CXR-BERT folder), as the `biovil` adapter does; hi-ml's engines would
download them, so its model classes are built here from the local files instead (no hub traffic).
"""

from __future__ import annotations

import hashlib
import os
import warnings
from importlib import metadata
from pathlib import Path

import numpy as np

MODELS = {"biovil": ("resnet50", 480), "biovil-t": ("resnet50_multi_image", 448)}
RESIZE, JOINT_FEATURE_SIZE, SMOOTHING_SIGMA = 512, 128, 1.5  # hi-ml's inference transform and engine


def _declare_torchvision_ops() -> None:
    """PyPI's CUDA torchvision beside a CPU torch cannot register nms/qnms, and its meta registrations then
    fail at import (specs/biovil-reference.md §6): declare the two schemas first. BioViL uses neither."""
    import torch

    try:
        torch.ops.torchvision.nms  # noqa: B018  (a working torchvision defined it)
    except (AttributeError, RuntimeError):
        lib = torch.library.Library("torchvision", "DEF")
        lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        _declare_torchvision_ops.library = lib  # keep the definitions alive


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class HimlBioViL:
    """hi-ml's image model (projected patches -> L2; global = L2 of their mean) and text engine."""

    def __init__(self, image_weights: str, text_model: str, model: str = "biovil", crop: str | int = "",
                 device: str = "auto", threads: str | int = "") -> None:
        if model not in MODELS:
            raise ValueError(f"model must be one of {', '.join(MODELS)}, got {model!r}")
        _declare_torchvision_ops()
        warnings.filterwarnings("ignore", category=FutureWarning, module="timm")
        import torch
        from health_multimodal.image.model.model import ImageModel, MultiImageModel
        from health_multimodal.text.inference_engine import TextInferenceEngine
        from health_multimodal.text.model import CXRBertModel, CXRBertTokenizer

        self.torch, self.name = torch, model
        if threads:
            torch.set_num_threads(int(threads))
        encoder_type, default_crop = MODELS[model]
        if device in ("auto", "cuda"):  # as the harness: CUDA when available, under torchrun the rank's own GPU
            cuda = device == "cuda" or torch.cuda.is_available()
            device = f"cuda:{os.environ.get('LOCAL_RANK', '0')}" if cuda else "cpu"
        self.crop, self.device = int(crop or default_crop), torch.device(device)
        self.image_path, self.text_path = Path(image_weights).expanduser(), Path(text_model).expanduser()
        cls = MultiImageModel if model == "biovil-t" else ImageModel
        self.image_model = cls(img_encoder_type=encoder_type, joint_feature_size=JOINT_FEATURE_SIZE,
                               pretrained_model_path=self.image_path).eval().to(self.device)
        tokenizer = CXRBertTokenizer.from_pretrained(str(self.text_path))
        bert = CXRBertModel.from_pretrained(str(self.text_path)).eval().to(self.device)
        self.text_engine = TextInferenceEngine(tokenizer=tokenizer, text_model=bert)
        with torch.no_grad():
            probe = self.image_model(torch.zeros(1, 3, self.crop, self.crop, device=self.device))
        self.grid = list(probe.projected_patch_embeddings.shape[-2:])

    def describe(self) -> dict:
        version = metadata.version("hi-ml-multimodal")
        text_weights = next((self.text_path / n for n in ("model.safetensors", "pytorch_model.bin")
                             if (self.text_path / n).is_file()), None)
        text_sha = _sha256(text_weights) if text_weights else "none"
        return {
            "meta": {"name": f"{self.name}-himl", "version": f"hi-ml-multimodal {version}",
                     "description": f"{self.name} computed by hi-ml-multimodal {version} (Microsoft's code)",
                     "weights_source": f"image {self.image_path}; text {self.text_path} "
                                       f"({text_weights.name if text_weights else '?'} sha256 {text_sha})",
                     "weights_sha256": _sha256(self.image_path), "embedding_dim": JOINT_FEATURE_SIZE,
                     "training_data": ["MIMIC-CXR"], "licence": "MIT", "map_rescale": "none"},
            "capabilities": ["global", "patches", "text"] + (["image_pairs"] if self.name == "biovil-t" else []),
            "geometry": {"kind": "resize_crop", "resize": RESIZE, "crop": self.crop, "grid": self.grid,
                         "smoothing_sigma": SMOOTHING_SIGMA, "channels": 3},
            "max_text_tokens": int(self.text_engine.max_allowed_input_length), "map_placement": "official",
            "device": str(self.device), "precision": "fp32",
        }

    # ---- images: uint8 crops [B, H, W] -> ToTensor (/255) and ExpandChannels, as hi-ml's transform ----
    def _input(self, crops: np.ndarray):
        x = self.torch.from_numpy(crops).to(self.device).float().div(255)
        return x.unsqueeze(1).repeat_interleave(3, dim=1)

    def _embeddings(self, output) -> dict:
        f = self.torch.nn.functional
        return {"global": f.normalize(output.projected_global_embedding, dim=-1),
                "patches": f.normalize(output.projected_patch_embeddings, dim=1).permute(0, 2, 3, 1)}

    def encode_images(self, crops: np.ndarray) -> dict:
        with self.torch.no_grad():
            return self._embeddings(self.image_model(self._input(crops)))

    def encode_image_pairs(self, current: np.ndarray, previous: np.ndarray | None) -> dict:
        if self.name != "biovil-t":
            raise NotImplementedError("image pairs need model=biovil-t")
        with self.torch.no_grad():
            prior = None if previous is None else self._input(previous)
            return self._embeddings(self.image_model(self._input(current), prior))

    # ---- texts: hi-ml's prompt rules, tokenisation and projection ---------------------------------------
    def encode_texts(self, texts: list[str], normalize: bool = True):
        return self.text_engine.get_embeddings_from_prompt(list(texts), normalize=normalize, verbose=False)

    def embed_prompt_list(self, prompts: list[str]):
        """hi-ml's get_similarity_score_from_raw_data: mean of unnormalised projections, then L2."""
        raw = self.text_engine.get_embeddings_from_prompt(list(prompts), normalize=False, verbose=False)
        return self.torch.nn.functional.normalize(raw.mean(dim=0), dim=0, p=2)

    def count_text_tokens(self, texts: list[str]) -> list[int]:
        from health_multimodal.text.data.io import TextInput

        return [int(TextInput.tokenize_input_prompts(self.text_engine, [t], verbose=False).input_ids.shape[1])
                for t in texts]


def make_adapter(image_weights: str, text_model: str, **options: str) -> HimlBioViL:
    """The entry: `image_weights` (the released .pt format), `text_model` (a CXR-BERT folder); options
    `model` (biovil | biovil-t), `crop`, `device` (auto, cpu, cuda, cuda:N), `threads`."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # local files only: never reach for the hub
    return HimlBioViL(image_weights, text_model, **options)
