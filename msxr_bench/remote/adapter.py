"""`RemoteAdapter`: an EncoderAdapter whose model runs in a worker process (client.py), so that its
dependencies never meet the harness's. Images travel as the harness's uint8 crops, results come back as
float32 tensors on the input's device; unusable items raise RemoteItemError (protocol.py) with the rest.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from msxr_bench.adapters.base import PATCHES, REMOTE, AdapterMeta, EncoderAdapter, ImageEmbeddings, PredictedBox
from msxr_bench.geometry.types import Geometry
from msxr_bench.remote.client import RemoteSession, connect
from msxr_bench.remote.protocol import (
    ProtocolError, RemoteItemError, RemoteWorkerError, check_fields, decode_items, float_array,
)


def to_uint8_crops(images: torch.Tensor) -> np.ndarray:
    """The harness's model input [B, C, H, W] (uint8 / 255, grey replicated over C) back to its uint8 crops
    [B, H, W], exactly; any other input is a ValueError (a remote model must see what the harness decoded)."""
    if images.ndim != 4 or not images.is_floating_point():
        raise ValueError(f"expected float images [B, C, H, W], got {images.dtype} {tuple(images.shape)}")
    grey = images[:, 0].float()
    crops = grey.mul(255).round_().clamp_(0, 255).to(torch.uint8)
    if not torch.equal(crops.float().div(255).unsqueeze(1).expand_as(images), images.float()):
        raise ValueError("a remote model takes the harness's preprocessed images (uint8 / 255, grey replicated "
                         "over channels); these are not")
    return crops.cpu().numpy()


class RemoteAdapter(EncoderAdapter):
    """A model served by a worker: meta, identity, capabilities and geometry from the handshake."""

    def __init__(self, session: RemoteSession) -> None:
        super().__init__()
        hs = session.handshake
        if hs is None:
            raise ValueError("RemoteAdapter needs a session that has completed its handshake (client.connect)")
        self.session = session
        self.meta = AdapterMeta.model_validate(hs.meta)
        self.capabilities = hs.capabilities | {REMOTE}
        if hs.geometry is not None:
            g = hs.geometry
            self.geometry = Geometry(g["kind"], resize=g["resize"], crop=g["crop"], grid=tuple(g["grid"]),
                                     smoothing_sigma=g.get("smoothing_sigma"), channels=g.get("channels", 3))
        self.max_text_tokens = hs.max_text_tokens
        self.map_placement = hs.map_placement
        self.remote_device, self.remote_precision = hs.device, hs.precision
        self._token_counts: dict[str, int] = {}

    def identity(self) -> str:
        """The worker's identity of its model when it gives one, else the contract's (meta + geometry)."""
        return self.session.handshake.identity or super().identity()

    def remote_record(self) -> dict:
        """What a results file records of the worker: its device and precision (the harness's --device and
        --precision do not reach it) and its environment."""
        return {"device": self.remote_device, "precision": self.remote_precision,
                "worker": dict(self.session.handshake.worker)}

    def close(self) -> None:
        """Stop the worker (also done at interpreter exit)."""
        self.session.close()

    # ---- requests --------------------------------------------------------------------------------------
    def _call(self, op: str, header: dict | None = None, arrays: list[np.ndarray] = ()) -> tuple[dict, list]:
        return self.session.request(op, header, arrays)

    def _items(self, op: str, reply: tuple[dict, list], n: int) -> list[dict | str]:
        try:
            return decode_items(reply[0], reply[1], n)
        except ProtocolError as exc:
            raise RemoteWorkerError(f"{self.session.name}: {op}: malformed reply: {exc}") from None

    @staticmethod
    def _split(checked: list[Any]) -> tuple[list[int], dict[int, str]]:
        kept = [i for i, c in enumerate(checked) if not isinstance(c, str)]
        return kept, {i: c for i, c in enumerate(checked) if isinstance(c, str)}

    def _embeddings(self, op: str, reply: tuple[dict, list], n: int, device: torch.device) -> ImageEmbeddings:
        d, (h, w) = self.meta.embedding_dim, self.geometry.grid
        items = self._items(op, reply, n)
        if PATCHES in self.capabilities:
            shapes = {"global": (d,), "patches": (h, w, d)}
        else:  # a global-only model: patches it may send anyway are not used
            shapes, items = {"global": (d,)}, [i if isinstance(i, str) else {"global": i.get("global")} for i in items]
        checked = [check_fields(item, shapes) for item in items]
        kept, failures = self._split(checked)
        emb = None
        if kept:
            glob = torch.from_numpy(np.stack([checked[i]["global"] for i in kept])).to(device)
            patches = torch.from_numpy(np.stack([checked[i]["patches"] for i in kept])).to(device) \
                if PATCHES in self.capabilities else None
            emb = ImageEmbeddings(global_=glob, patches=patches)
        if failures:
            raise RemoteItemError(f"{self.session.name}: {op}", failures, kept, emb)
        return emb

    def encode_images(self, images: torch.Tensor) -> ImageEmbeddings:
        crops = to_uint8_crops(images)
        reply = self._call("encode_images", {"channels": self.geometry.channels}, [crops])
        return self._embeddings("encode_images", reply, len(crops), images.device)

    def encode_image_pairs(self, current: torch.Tensor, previous: torch.Tensor | None) -> ImageEmbeddings:
        arrays = [to_uint8_crops(current)] + ([] if previous is None else [to_uint8_crops(previous)])
        reply = self._call("encode_image_pairs", {"has_previous": previous is not None}, arrays)
        return self._embeddings("encode_image_pairs", reply, len(arrays[0]), current.device)

    def encode_texts(self, texts: list[str], normalize: bool = True) -> torch.Tensor:
        if isinstance(texts, str):
            raise TypeError("encode_texts takes a list of strings, not a string")
        texts = list(texts)
        reply = self._call("encode_texts", {"texts": texts, "normalize": bool(normalize)})
        checked = [check_fields(item, {"value": (self.meta.embedding_dim,)})
                   for item in self._items("encode_texts", reply, len(texts))]
        kept, failures = self._split(checked)
        out = torch.from_numpy(np.stack([checked[i]["value"] for i in kept])) if kept else None
        if failures:
            raise RemoteItemError(f"{self.session.name}: encode_texts", failures, kept, out)
        return out if out is not None else torch.empty(0, self.meta.embedding_dim)

    def embed_prompt_list(self, prompts: list[str]) -> torch.Tensor:
        if "embed_prompt_list" not in self.session.handshake.methods:
            return super().embed_prompt_list(prompts)
        header, arrays = self._call("embed_prompt_list", {"texts": list(prompts)})
        value = self._single("embed_prompt_list", header, arrays, (self.meta.embedding_dim,))
        return torch.from_numpy(value)

    def similarity_grid(self, images: ImageEmbeddings, texts: torch.Tensor) -> torch.Tensor:
        if "similarity_grid" not in self.session.handshake.methods:
            return super().similarity_grid(images, texts)
        if images.patches is None:
            raise ValueError(f"{self.meta.name} returned no patch embeddings")
        b, h, w, _ = images.patches.shape
        arrays = [images.patches.detach().float().cpu().numpy(), texts.detach().float().cpu().numpy()]
        header, out = self._call("similarity_grid", {}, arrays)
        value = self._single("similarity_grid", header, out, (b, len(texts), h, w))
        return torch.from_numpy(value).to(images.patches.device)

    def _single(self, op: str, header: dict, arrays: list, shape: tuple[int, ...]) -> np.ndarray:
        """A one-result reply (not per item): its array, or a RemoteWorkerError saying what is wrong."""
        fields = header.get("fields") if header.get("layout") == "stacked" else None
        index = fields.get("value") if isinstance(fields, dict) else None
        value = arrays[index] if isinstance(index, int) and 0 <= index < len(arrays) else None
        checked = float_array(value, shape, "the result")
        if isinstance(checked, str):
            raise RemoteWorkerError(f"{self.session.name}: {op}: unusable reply: {checked}")
        return checked

    def predict_boxes(self, images: torch.Tensor, phrases: list[str]) -> list[list[PredictedBox]]:
        crops = to_uint8_crops(images)
        if len(phrases) != len(crops):
            raise ValueError(f"predict_boxes takes one phrase per image, got {len(phrases)} for {len(crops)}")
        reply = self._call("predict_boxes", {"texts": list(phrases)}, [crops])
        checked = [_boxes(item) for item in self._items("predict_boxes", reply, len(crops))]
        kept, failures = self._split(checked)
        if failures:
            raise RemoteItemError(f"{self.session.name}: predict_boxes", failures, kept, [checked[i] for i in kept])
        return checked

    def count_text_tokens(self, texts: list[str]) -> list[int]:
        """Tokens per text as the model counts them (asked once per text)."""
        todo = [t for t in dict.fromkeys(texts) if t not in self._token_counts]
        if todo:
            header, _ = self._call("count_text_tokens", {"texts": todo})
            counts = header.get("counts")
            if not (isinstance(counts, list) and len(counts) == len(todo) and all(isinstance(c, int) for c in counts)):
                raise RemoteWorkerError(f"{self.session.name}: count_text_tokens: expected {len(todo)} integers")
            self._token_counts.update(zip(todo, counts))
        return [self._token_counts[t] for t in texts]


def _boxes(item: dict | str) -> list[PredictedBox] | str:
    """One item of a predict_boxes reply: an [n, 5] array of x, y, w, h, score (n may be 0)."""
    if isinstance(item, str):
        return item
    value = item.get("value")
    if value is not None and value.size == 0:
        return []
    checked = check_fields(item, {"value": (None, 5)})
    if isinstance(checked, str):
        return checked
    boxes = checked["value"]
    if (boxes[:, 2:4] < 0).any():
        return "a box has a negative width or height"
    return [PredictedBox(*map(float, row)) for row in boxes]


def build_remote(session: RemoteSession | None = None, **options: Any) -> RemoteAdapter:
    """The `remote` adapter: a worker started from `options` (`--model-arg`s; catalog.REMOTE_OPTIONS), or an
    already connected `session` (a preflight's)."""
    if session is not None and options:
        raise ValueError("build_remote: give a session or options, not both")
    return RemoteAdapter(session if session is not None else connect(options))
