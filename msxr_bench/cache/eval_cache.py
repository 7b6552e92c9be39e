"""The evaluation cache: preprocessed images (uint8 crops), image embeddings and text embeddings on disk.

    ROOT/v1/pixels/<pixels key>/<sha[:2]>/<image sha256>.safetensors      uint8 [crop, crop] + original (H, W)
    ROOT/v1/images/<embedding key>/<sha[:2]>/<image sha256>.safetensors   global [D], patches [h, w, D], extras
    ROOT/v1/texts/<text key>/<sha[:2]>/<text sha256>.safetensors          embedding [D]
    each key folder holds key.json: the fields its key hashes (see `cache/keys.py`)

Entries are float32 exactly as the run computed them, so a re-run reads the same numbers it would compute.
Sizes: about crop^2 bytes per image and geometry (230 KB at 480), about 4 * (h*w + 1) * D bytes per image and
model (116 KB for BioViL), well under 1 KB per text.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from msxr_bench.cache import keys
from msxr_bench.hashing import text_sha256
from msxr_bench.cache.store import load_entry, save_entry, write_json_once

if TYPE_CHECKING:
    from msxr_bench.adapters.base import EncoderAdapter, ImageEmbeddings
    from msxr_bench.geometry.types import Geometry

LAYOUT = "v1"
log = logging.getLogger(__name__)


def _store(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    """Best effort: a cache that cannot be written (full disk, read-only folder) slows a run, never fails it."""
    try:
        save_entry(path, tensors, metadata)
    except OSError as exc:
        log.warning("cache entry not written (%s): %s", path, exc)


def _entry(folder: Path, sha: str) -> Path:
    return folder / sha[:2] / f"{sha}.safetensors"


def _size(metadata: dict[str, str]) -> tuple[int, int] | None:
    try:
        h, w = (int(v) for v in metadata["size"].split(","))
    except (KeyError, ValueError):
        return None
    return h, w


@dataclass(frozen=True)
class ImageCacheView:
    """The pixels and embedding folders of one (adapter, geometry, numerics); plain paths, so DataLoader
    workers can use it. `embeddings=False` keeps preprocessed pixels only."""

    pixels_dir: Path
    embeddings_dir: Path
    embeddings: bool = True

    def get_pixels(self, sha: str) -> tuple[tuple[int, int], np.ndarray] | None:
        got = load_entry(_entry(self.pixels_dir, sha))
        if got is None or "crop" not in got[0] or _size(got[1]) is None:
            return None
        return _size(got[1]), got[0]["crop"].numpy()

    def put_pixels(self, sha: str, size: tuple[int, int], crop: np.ndarray) -> None:
        _store(_entry(self.pixels_dir, sha), {"crop": torch.from_numpy(np.ascontiguousarray(crop))},
               {"size": f"{size[0]},{size[1]}"})

    def get_embedding(self, sha: str) -> tuple[tuple[int, int], dict[str, torch.Tensor]] | None:
        if not self.embeddings:
            return None
        got = load_entry(_entry(self.embeddings_dir, sha))
        if got is None or "global" not in got[0] or _size(got[1]) is None:
            return None
        return _size(got[1]), got[0]

    def put_embedding(self, sha: str, size: tuple[int, int], tensors: dict[str, torch.Tensor]) -> None:
        _store(_entry(self.embeddings_dir, sha), tensors, {"size": f"{size[0]},{size[1]}"})


def embedding_tensors(emb: "ImageEmbeddings", b: int) -> dict[str, torch.Tensor] | None:
    """Image `b` of a batch's embeddings as named tensors; None when the extras are not all batched tensors."""
    n = emb.global_.shape[0]
    out = {"global": emb.global_[b]}
    if emb.patches is not None:
        out["patches"] = emb.patches[b]
    for name, value in emb.extras.items():
        if not torch.is_tensor(value) or value.ndim == 0 or value.shape[0] != n:
            return None
        out[f"extras.{name}"] = value[b]
    return out


def stacked_embeddings(records: list[dict[str, torch.Tensor]]) -> "ImageEmbeddings":
    """The inverse of `embedding_tensors` for a list of images (all from one adapter)."""
    from msxr_bench.adapters.base import ImageEmbeddings

    names = records[0].keys()
    stacked = {k: torch.stack([r[k] for r in records]) for k in names}
    extras = {k.removeprefix("extras."): v for k, v in stacked.items() if k.startswith("extras.")}
    return ImageEmbeddings(global_=stacked["global"], patches=stacked.get("patches"), extras=extras)


class TextCacheView:
    """Text embeddings of one (adapter, numerics): `get(text)` -> [D] float32 or None; `put(text, emb)`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def get(self, text: str) -> torch.Tensor | None:
        got = load_entry(_entry(self.folder, text_sha256(text)))
        return None if got is None or "embedding" not in got[0] else got[0]["embedding"]

    def put(self, text: str, embedding: torch.Tensor) -> None:
        _store(_entry(self.folder, text_sha256(text)), {"embedding": embedding.float()},
               {"text": text[:200].replace("\0", " ")})


class EvalCache:
    """A cache root. `images(...)` and `texts(...)` give the views of one adapter and runtime."""

    def __init__(self, root: str | Path, embeddings: bool = True) -> None:
        self.root = Path(root).expanduser()
        self.embeddings = embeddings
        self._adapter_fields: dict[int, dict] = {}

    def _adapter(self, adapter: "EncoderAdapter") -> dict:
        if id(adapter) not in self._adapter_fields:  # the fingerprint may hash all weights: once per adapter
            self._adapter_fields[id(adapter)] = keys.adapter_fields(adapter)
        return self._adapter_fields[id(adapter)]

    def _folder(self, kind: str, fields: dict) -> Path:
        folder = self.root / LAYOUT / kind / keys.digest(fields)
        write_json_once(folder / "key.json", fields)
        return folder

    def pixels_dir(self, geometry: "Geometry") -> Path:
        return self._folder("pixels", keys.pixels_fields(geometry))

    def images(self, adapter: "EncoderAdapter", device: torch.device, precision: str) -> ImageCacheView:
        pixels = keys.pixels_fields(adapter.geometry)
        fields = {"format": keys.FORMAT, "what": "image embeddings", "adapter": self._adapter(adapter),
                  "pixels": keys.digest(pixels), **keys.numerics_fields(device, precision)}
        return ImageCacheView(self.pixels_dir(adapter.geometry), self._folder("images", fields), self.embeddings)

    def texts(self, adapter: "EncoderAdapter", device: torch.device, precision: str) -> TextCacheView | None:
        if not self.embeddings:
            return None
        fields = {"format": keys.FORMAT, "what": "text embeddings", "adapter": self._adapter(adapter),
                  **keys.numerics_fields(device, precision)}
        return TextCacheView(self._folder("texts", fields))
