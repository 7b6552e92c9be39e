"""The harness's reading of the wire protocol (docs/remote-adapters.md): its errors, the handshake and how
replies become per-item arrays or per-item errors. Numpy only, no torch.

The frame codec itself lives in worker.py (the worker is shipped as one file and must carry it); process
control and timeouts are in client.py, the EncoderAdapter face in adapter.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import ValidationError

from msxr_bench.adapters.errors import PartialBatchError
from msxr_bench.remote.worker import MAGIC, METHODS, PROTOCOL_VERSION, ProtocolError, encode_frame, read_frame
from msxr_bench.results import AdapterMetaRecord

__all__ = ["MAGIC", "METHODS", "PROTOCOL_VERSION", "Handshake", "ProtocolError", "RemoteHandshakeError",
           "RemoteItemError", "RemoteWorkerError", "decode_items", "encode_frame", "parse_handshake", "read_frame"]

# what a worker can serve, and the entry method each capability needs (text_encoder cannot cross processes)
METHOD_OF = {"global": "encode_images", "patches": "encode_images", "text": "encode_texts",
             "image_pairs": "encode_image_pairs", "boxes": "predict_boxes"}
DESCRIBE_KEYS = {"meta", "identity", "capabilities", "geometry", "max_text_tokens", "map_placement", "device",
                 "precision"}
GEOMETRY_KINDS = ("resize_crop", "letterbox_crop")


class RemoteWorkerError(ChildProcessError):
    """The worker of a remote adapter crashed, hung, broke the protocol, or its entry raised; the message names
    the model and the request. The worker is stopped unless the entry merely raised."""


class RemoteHandshakeError(RemoteWorkerError):
    """The worker could not start the entry, or described it wrongly: nothing was computed."""


class RemoteItemError(PartialBatchError):
    """Some items of one request came back unusable (wrong shape or dtype, non-finite, or the entry's own
    per-item error): the engine counts them as skipped samples and uses `partial` for the rest."""

    def __init__(self, where: str, failures: dict[int, str], kept: list[int], partial: Any) -> None:
        first = next(iter(failures.items()))
        super().__init__(f"{where}: {len(failures)} of {len(failures) + len(kept)} items unusable "
                         f"(item {first[0]}: {first[1]})", failures, kept, partial)


@dataclass(frozen=True)
class Handshake:
    """What the worker said about its model (describe()) and itself, checked."""

    meta: dict
    capabilities: frozenset[str]
    geometry: dict | None
    identity: str | None
    max_text_tokens: int | None
    map_placement: str | None
    device: str
    precision: str
    methods: frozenset[str]
    worker: dict


def _geometry_problems(g: Any) -> list[str]:
    if not isinstance(g, dict):
        return [f"geometry must be an object, got {type(g).__name__}"]
    out = []
    unknown = sorted(set(g) - {"kind", "resize", "crop", "grid", "smoothing_sigma", "channels"})
    if unknown:
        out.append(f"geometry has unknown keys {unknown}")
    if g.get("kind") not in GEOMETRY_KINDS:
        out.append(f"geometry.kind must be one of {GEOMETRY_KINDS}, got {g.get('kind')!r}")
    for key in ("resize", "crop"):
        if not (isinstance(g.get(key), int) and not isinstance(g.get(key), bool) and g[key] > 0):
            out.append(f"geometry.{key} must be a positive integer, got {g.get(key)!r}")
    grid = g.get("grid")
    if not (isinstance(grid, (list, tuple)) and len(grid) == 2 and all(isinstance(v, int) and v > 0 for v in grid)):
        out.append(f"geometry.grid must be two positive integers [h, w], got {grid!r}")
    sigma = g.get("smoothing_sigma")
    if sigma is not None and not (isinstance(sigma, (int, float)) and math.isfinite(sigma) and sigma > 0):
        out.append(f"geometry.smoothing_sigma must be null or a positive number, got {sigma!r}")
    if g.get("channels", 3) not in (1, 3):
        out.append(f"geometry.channels must be 1 or 3, got {g.get('channels')!r}")
    return out


def parse_handshake(reply: dict, where: str) -> Handshake:
    """The checked handshake of a worker's reply, or a RemoteHandshakeError listing every problem."""
    if reply.get("protocol_version") != PROTOCOL_VERSION:
        raise RemoteHandshakeError(f"{where}: protocol version mismatch: the harness speaks {PROTOCOL_VERSION}, "
                                   f"the worker {reply.get('protocol_version')!r}")
    d = reply.get("describe")
    if not isinstance(d, dict):
        raise RemoteHandshakeError(f"{where}: describe() must return a dict, got {type(d).__name__}")
    problems = [f"unknown key {k!r} (known: {', '.join(sorted(DESCRIBE_KEYS))})" for k in sorted(set(d) - DESCRIBE_KEYS)]
    try:
        meta = AdapterMetaRecord.model_validate(d.get("meta")).model_dump(mode="json")
    except ValidationError as exc:
        meta = {}
        problems += [f"meta.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
    caps = d.get("capabilities")
    if not (isinstance(caps, (list, tuple)) and caps and all(isinstance(c, str) for c in caps)):
        problems.append(f"capabilities must be a non-empty list of {', '.join(METHOD_OF)}, got {caps!r}")
        caps = []
    caps = frozenset(caps)
    if caps - set(METHOD_OF):
        problems.append(f"capabilities {sorted(caps - set(METHOD_OF))} cannot be served remotely "
                        f"(servable: {', '.join(METHOD_OF)})")
    methods = frozenset(reply.get("methods") or ())
    for cap in sorted(caps & set(METHOD_OF)):
        if METHOD_OF[cap] not in methods:
            problems.append(f"declares {cap!r} but the entry has no {METHOD_OF[cap]}() method")
    geometry = d.get("geometry")
    if caps & {"global", "patches", "image_pairs", "boxes"} or geometry is not None:
        problems += _geometry_problems(geometry)
    raw_meta = d.get("meta") if isinstance(d.get("meta"), dict) else {}
    if caps & {"global", "patches", "text", "image_pairs"} and raw_meta.get("embedding_dim") is None:
        problems.append("meta.embedding_dim is required of a model with embeddings")
    limit = d.get("max_text_tokens")
    if limit is not None and not (isinstance(limit, int) and limit > 0):
        problems.append(f"max_text_tokens must be null or a positive integer, got {limit!r}")
    if limit is not None and "count_text_tokens" not in methods:
        problems.append("max_text_tokens is set but the entry has no count_text_tokens() method")
    if d.get("map_placement") not in (None, "official", "exact"):
        problems.append(f"map_placement must be null, 'official' or 'exact', got {d.get('map_placement')!r}")
    for key in ("device", "precision"):
        if not isinstance(d.get(key), str) or not d.get(key):
            problems.append(f"{key} must be a non-empty string (e.g. 'cuda:0', 'fp32'), got {d.get(key)!r}")
    identity = d.get("identity")
    if identity is not None and not (isinstance(identity, str) and identity):
        problems.append(f"identity must be null or a non-empty string, got {identity!r}")
    if problems:
        raise RemoteHandshakeError(f"{where}: wrong handshake: " + "; ".join(problems))
    if geometry is not None:
        geometry = {**geometry, "grid": list(geometry["grid"])}
    return Handshake(meta=meta, capabilities=caps, geometry=geometry, identity=identity, max_text_tokens=limit,
                     map_placement=d.get("map_placement"), device=d["device"], precision=d["precision"],
                     methods=methods, worker=dict(reply.get("worker") or {}))


# ---- replies -> per-item arrays or per-item errors -----------------------------------------------------
def _payload(arrays: list[np.ndarray], index: Any) -> np.ndarray | None:
    if index is None:
        return None
    if not isinstance(index, int) or not 0 <= index < len(arrays):
        raise ProtocolError(f"reply names payload {index!r} of {len(arrays)}")
    return arrays[index]


def decode_items(header: dict, arrays: list[np.ndarray], n: int) -> list[dict[str, np.ndarray | None] | str]:
    """One entry per item of the request: its fields, or why the item is unusable. A reply whose structure is
    broken (not per-item content) raises ProtocolError."""
    layout = header.get("layout")
    if layout == "stacked":
        fields = header.get("fields")
        if not isinstance(fields, dict):
            raise ProtocolError("stacked reply without 'fields'")
        stacked = {name: _payload(arrays, i) for name, i in fields.items()}
        for name, a in stacked.items():
            if a is not None and (a.ndim == 0 or a.shape[0] != n):
                return [f"{name} has shape {list(a.shape)} for a batch of {n}"] * n
        return [{name: None if a is None else a[i] for name, a in stacked.items()} for i in range(n)]
    if layout == "items":
        items = header.get("items")
        if not isinstance(items, list):
            raise ProtocolError("per-item reply without 'items'")
        if len(items) != n:
            return [f"{len(items)} results for a batch of {n}"] * n
        out: list[dict | str] = []
        for item in items:
            if isinstance(item, dict) and isinstance(item.get("error"), str):
                out.append(f"the model failed on this item: {item['error']}")
            elif isinstance(item, dict) and isinstance(item.get("fields"), dict):
                out.append({name: _payload(arrays, i) for name, i in item["fields"].items()})
            else:
                raise ProtocolError(f"reply item {item!r} is neither fields nor an error")
        return out
    raise ProtocolError(f"reply layout {layout!r} is neither 'stacked' nor 'items'")


def float_array(a: np.ndarray | None, shape: tuple[int | None, ...], what: str) -> np.ndarray | str:
    """`a` as float32 if it is a finite float array of `shape` (None = any size), else why not."""
    if a is None:
        return f"{what} missing"
    if a.dtype.kind != "f":
        return f"{what} has dtype {a.dtype}, expected floats"
    if a.ndim != len(shape) or any(s is not None and s != d for s, d in zip(shape, a.shape)):
        want = "[" + ", ".join("*" if s is None else str(s) for s in shape) + "]"
        return f"{what} has shape {list(a.shape)}, expected {want}"
    a = a.astype(np.float32, copy=False)
    if not np.isfinite(a).all():
        return f"{what} has non-finite values"
    return a


def check_fields(item: dict | str, shapes: dict[str, tuple[int | None, ...]]) -> dict[str, np.ndarray] | str:
    """An item's fields checked against `shapes` (name -> shape), or why it is unusable."""
    if isinstance(item, str):
        return item
    unexpected = sorted(set(item) - set(shapes))
    if unexpected:
        return f"unexpected fields {unexpected} (expected {sorted(shapes)})"
    out: dict[str, np.ndarray] = {}
    for name, shape in shapes.items():
        checked = float_array(item.get(name), shape, name)
        if isinstance(checked, str):
            return checked
        out[name] = checked
    return out
