"""Random-weight BioViL / BioViL-T files in the exact released formats, for tests, demos and fixtures
(no hub here): the image `.pt` state_dict and a CXR-BERT directory with a small WordPiece vocabulary.

`discriminate=True` applies the recipe of specs/biovil-reference.md §8 so that different images and phrases
get different embeddings (default initialisation maps them all to nearly the same vector, which would make
any comparison vacuous): random BatchNorm affine parameters with each residual branch's last BN scaled
x0.1, BN running statistics fitted on a few synthetic radiographs, BERT initialised with std 0.3 and random
LayerNorm affine parameters.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
from torch import nn

from msxr_bench.models.biovil import BIOVIL_IMAGE_CONFIG, BIOVIL_T_IMAGE_CONFIG, BioViLImageConfig, BioViLImageModel
from msxr_bench.models.cxrbert import CXRBertConfig, CXRBertModel

# a small BERT with CXR-BERT's layout, for fast tests (BERT-base is the default)
SMALL_TEXT_CONFIG = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128)
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
TOY_WORDS = (
    "the", "of", "and", "in", "is", "no", "with", "there", "are", "seen", "small", "large", "mild", "moderate",
    "severe", "left", "right", "bilateral", "upper", "lower", "mid", "basilar", "base", "apical", "lobe", "lung",
    "lungs", "zone", "pleural", "effusion", "effusions", "consolidation", "opacity", "opacities", "atelectasis",
    "pneumonia", "pneumothorax", "edema", "cardiomegaly", "heart", "size", "enlarged", "normal", "findings",
    "evidence", "suggesting", "consistent", "compatible", "patchy", "focal", "diffuse", "increased", "new",
)


def toy_vocab(words: tuple[str, ...] = TOY_WORDS) -> list[str]:
    """Specials first ([PAD] = 0), then punctuation, digits, letters, '##' letters and whole words."""
    chars = list(".,;:!?()[]-/'\"%") + [str(d) for d in range(10)] + [chr(c) for c in range(ord("a"), ord("z") + 1)]
    vocab = list(SPECIAL_TOKENS) + chars + ["##" + c for c in chars if c.isalnum()]
    return vocab + [w for w in dict.fromkeys(words) if w not in vocab]


def synthetic_radiographs(n: int, size: int, seed: int = 0) -> torch.Tensor:
    """[n, 3, size, size] in [0, 1]: dark lungs in a bright thorax, ribs, noise (for BN statistics)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    out = []
    for _ in range(n):
        img = 0.55 + 0.25 * rng.random() * yy
        for cx in (0.3, 0.7):
            c = cx + 0.05 * rng.standard_normal()
            img -= 0.35 * (((xx - c) / 0.17) ** 2 + ((yy - 0.5) / 0.33) ** 2 < 1)
        img += 0.05 * np.sin(yy * rng.uniform(25, 40)) + 0.05 * rng.standard_normal((size, size))
        bx, by = rng.uniform(0.2, 0.8, 2)
        img += 0.3 * np.exp(-(((xx - bx) ** 2 + (yy - by) ** 2) / 0.01))
        out.append(np.clip(img, 0, 1))
    return torch.tensor(np.stack(out), dtype=torch.float32)[:, None].repeat(1, 3, 1, 1)


@torch.no_grad()
def make_image_model_discriminative(model: BioViLImageModel, fit_size: int = 224, seed: int = 0,
                                   n_images: int = 4) -> None:
    """Random BN affine (residual-branch ends x0.1), BN statistics fitted in float64 on synthetic images."""
    g = torch.Generator().manual_seed(seed)
    branch_end = "bn3" if model.trunk.block.expansion == 4 else "bn2"  # last BN of a residual branch
    for name, m in model.named_modules():
        if isinstance(m, nn.BatchNorm2d):
            m.weight.copy_(torch.empty_like(m.weight).uniform_(0.5, 1.5, generator=g))
            m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=g))
            if ".layer" in name and name.endswith("." + branch_end):
                m.weight.mul_(0.1)
    for name, p in model.named_parameters():  # BioViL-T extras: make them matter
        if name.endswith(("missing_previous_emb", "type_embed")):
            p.copy_(0.5 * torch.randn(p.shape, generator=g))
    model.double().train()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # cumulative average = exactly this batch's statistics
    model(synthetic_radiographs(n_images, fit_size, seed).double())
    model.float().eval()


def write_image_weights(path: str | Path, config: BioViLImageConfig = BIOVIL_IMAGE_CONFIG, seed: int = 0,
                        discriminate: bool = True) -> Path:
    """A random image model saved like the released `.pt` (a pickled OrderedDict state_dict)."""
    torch.manual_seed(seed)
    model = BioViLImageModel(config)
    if discriminate:
        make_image_model_discriminative(model, seed=seed)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(OrderedDict(model.state_dict()), path)
    return path


def random_text_model(seed: int = 0, vocab_size: int | None = None, discriminate: bool = True,
                      **config: int) -> CXRBertModel:
    """A CXR-BERT (BERT-base shape unless `config` overrides) with random weights."""
    torch.manual_seed(seed)
    defaults = dict(vocab_size=vocab_size or len(toy_vocab()), hidden_size=768, num_hidden_layers=12,
                    num_attention_heads=12, intermediate_size=3072, max_position_embeddings=512,
                    hidden_dropout_prob=0.25, attention_probs_dropout_prob=0.25, projection_size=128,
                    initializer_range=0.3 if discriminate else 0.02)
    model = CXRBertModel(CXRBertConfig(**{**defaults, **config}))
    if discriminate:
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, nn.LayerNorm):
                    m.weight.uniform_(0.5, 1.5)
                    m.bias.normal_(0.0, 0.2)
    return model.eval()


def write_text_model(directory: str | Path, seed: int = 0, fmt: str = "safetensors", discriminate: bool = True,
                     **config: int) -> Path:
    """A CXR-BERT directory as on the hub: config.json (+ model_type), weights, vocab.txt, tokenizer config.

    fmt="safetensors": `save_pretrained` (model.safetensors, tied keys dropped). fmt="bin": a
    `pytorch_model.bin` like the released ones, i.e. with `bert.pooler.*` and `position_ids` keys too.
    """
    directory = Path(directory)
    vocab = toy_vocab()
    model = random_text_model(seed, len(vocab), discriminate, **config)
    model.save_pretrained(str(directory), safe_serialization=True)
    if fmt == "bin":
        (directory / "model.safetensors").unlink()
        state = OrderedDict(model.state_dict())
        hidden = model.config.hidden_size
        state["bert.embeddings.position_ids"] = torch.arange(model.config.max_position_embeddings)[None]
        state["bert.pooler.dense.weight"] = torch.randn(hidden, hidden)
        state["bert.pooler.dense.bias"] = torch.zeros(hidden)
        torch.save(state, directory / "pytorch_model.bin")
    elif fmt != "safetensors":
        raise ValueError(f"fmt must be 'safetensors' or 'bin', got {fmt!r}")
    (directory / "vocab.txt").write_text("\n".join(vocab) + "\n")
    (directory / "tokenizer_config.json").write_text(json.dumps(
        {"do_lower_case": True, "do_basic_tokenize": True, "strip_accents": None, "tokenize_chinese_chars": True,
         "model_max_length": 512, "tokenizer_class": "CXRBertTokenizer"}, indent=2))
    return directory


def write_official_files(directory: str | Path, model: str = "biovil", seed: int = 0, text_fmt: str = "bin",
                         discriminate: bool = True, **text_config: int) -> dict[str, Path]:
    """Both files of `model` ("biovil" / "biovil-t") under their official names: {'image_weights', 'text_model'}."""
    directory = Path(directory)
    multi = model == "biovil-t"
    name = "biovil_t_image_model_proj_size_128.pt" if multi else "biovil_image_resnet50_proj_size_128.pt"
    image = write_image_weights(directory / name, BIOVIL_T_IMAGE_CONFIG if multi else BIOVIL_IMAGE_CONFIG,
                                seed, discriminate)
    text = write_text_model(directory / "text", seed, text_fmt, discriminate, **text_config)
    return {"image_weights": image, "text_model": text}
