"""The worker side of a remote adapter: runs an entry (a model's adapter) in its own interpreter and answers
the harness's requests over a local socket. One file, standard library + numpy only: the harness ships it, so
the model's environment needs numpy and the model's own dependencies, never msxr-bench.

    python worker.py --socket PATH [--harness-pid PID]

The frame codec (the wire format of docs/remote-adapters.md) lives here, as the one implementation both sides
use; the harness's side of the conversation (timeouts, validation, process control) is in client.py.
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__" and sys.path and os.path.abspath(sys.path[0] or ".") == os.path.dirname(
        os.path.abspath(__file__)):
    sys.path.pop(0)  # run as a script: this folder's other modules must not shadow the model's imports

import argparse
import importlib
import importlib.util
import io
import json
import socket
import struct
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Callable

import numpy as np

PROTOCOL_VERSION = 1
MAGIC = b"MSXR"
MAX_HEADER_BYTES = 64 << 20
MAX_PAYLOAD_BYTES = 16 << 30
METHODS = ("encode_images", "encode_texts", "embed_prompt_list", "similarity_grid", "encode_image_pairs",
           "predict_boxes", "count_text_tokens")


class ProtocolError(ValueError):
    """A frame that does not follow the wire format (bad magic, oversized, truncated, pickled payload)."""


# ---- frames: MAGIC, u32 header length, JSON header, then header["arrays"] x (u64 length, .npy bytes) -------
def encode_frame(header: dict, arrays: list[np.ndarray] = ()) -> list[bytes]:
    """The byte chunks of one frame (sent back to back)."""
    chunks = []
    for array in arrays:
        buf = io.BytesIO()
        np.save(buf, np.asarray(array), allow_pickle=False)
        data = buf.getbuffer()
        chunks += [struct.pack(">Q", len(data)), data]
    body = json.dumps({**header, "arrays": len(arrays)}, allow_nan=False).encode()
    if len(body) > MAX_HEADER_BYTES:
        raise ProtocolError(f"frame header of {len(body)} bytes exceeds {MAX_HEADER_BYTES}")
    return [MAGIC + struct.pack(">I", len(body)), body, *chunks]


def read_frame(read_exact: Callable[[int], bytes]) -> tuple[dict, list[np.ndarray]]:
    """One frame from `read_exact(n)` (which returns exactly n bytes or raises)."""
    prefix = read_exact(8)
    if prefix[:4] != MAGIC:
        raise ProtocolError(f"frame does not start with {MAGIC!r} (got {prefix[:4]!r}): stream out of sync")
    (size,) = struct.unpack(">I", prefix[4:])
    if size > MAX_HEADER_BYTES:
        raise ProtocolError(f"frame header of {size} bytes exceeds {MAX_HEADER_BYTES}")
    try:
        header = json.loads(read_exact(size))
    except ValueError as exc:
        raise ProtocolError(f"frame header is not JSON: {exc}") from None
    if not isinstance(header, dict) or not isinstance(header.get("arrays", 0), int):
        raise ProtocolError("frame header must be a JSON object with an integer 'arrays'")
    arrays = []
    for _ in range(header["arrays"]):
        (length,) = struct.unpack(">Q", read_exact(8))
        if length > MAX_PAYLOAD_BYTES:
            raise ProtocolError(f"payload of {length} bytes exceeds {MAX_PAYLOAD_BYTES}")
        try:
            arrays.append(np.load(io.BytesIO(read_exact(length)), allow_pickle=False))
        except ValueError as exc:  # object arrays need pickle: refused
            raise ProtocolError(f"payload is not a plain .npy array: {exc}") from None
    return header, arrays


def socket_reader(sock: socket.socket) -> Callable[[int], bytearray]:
    def read_exact(n: int) -> bytearray:
        buf = bytearray(n)
        view, got = memoryview(buf), 0
        while got < n:
            k = sock.recv_into(view[got:])
            if k == 0:
                raise EOFError(f"connection closed after {got} of {n} bytes")
            got += k
        return buf
    return read_exact


# ---- results of the entry -> reply frames ---------------------------------------------------------------
def to_numpy(value: Any) -> np.ndarray:
    """numpy view of an entry's output: numpy arrays, lists, or torch tensors (any device, bf16 widened)."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor, without importing torch
        value = value.detach().cpu()
        if str(value.dtype) == "torch.bfloat16":
            value = value.float()
        value = value.numpy()
    array = np.asarray(value)
    if array.dtype.hasobject:
        raise TypeError("an object array (ragged or non-numeric values) cannot be sent")
    return array


def _describe_error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def pack_result(result: Any) -> tuple[dict, list[np.ndarray]]:
    """An entry's answer as a reply: one array ("value"), a dict of arrays (stacked over the batch), or a list
    with one item per input (array, dict of arrays, or an Exception for an item the entry could not do)."""
    arrays: list[np.ndarray] = []

    def fields(value: Any) -> dict:
        out = {}
        for name, v in (value.items() if isinstance(value, dict) else [("value", value)]):
            if v is None:
                out[name] = None
            else:
                arrays.append(to_numpy(v))
                out[name] = len(arrays) - 1
        return out

    if isinstance(result, (list, tuple)):
        items = []
        for item in result:
            if isinstance(item, BaseException):
                items.append({"error": _describe_error(item)})
                continue
            try:
                items.append({"fields": fields(item)})
            except (TypeError, ValueError) as exc:
                items.append({"error": f"not an array: {_describe_error(exc)}"})
        return {"layout": "items", "items": items}, arrays
    return {"layout": "stacked", "fields": fields(result)}, arrays


# ---- the entry ------------------------------------------------------------------------------------------
def load_entry(ref: str) -> Callable[..., Any]:
    """`package.module:callable` (imported) or `/path/to/file.py:callable` (loaded from the file)."""
    target, sep, attr = ref.rpartition(":")
    if not sep or not target or not attr:
        raise ValueError(f"entry must be 'module:callable' or 'file.py:callable', got {ref!r}")
    if target.endswith(".py"):
        path = Path(target).expanduser().resolve()
        name = f"msxr_remote_entry_{path.stem}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    else:
        module = importlib.import_module(target)
    return getattr(module, attr)


class Worker:
    def __init__(self) -> None:
        self.model: Any = None

    def handshake(self, header: dict, arrays: list) -> tuple[dict, list]:
        theirs = header.get("protocol_version")
        if theirs != PROTOCOL_VERSION:
            raise ValueError(f"protocol version mismatch: the harness speaks {theirs}, this worker "
                             f"{PROTOCOL_VERSION} ({__file__})")
        for entry in header.get("pythonpath") or []:
            sys.path.insert(0, entry)
        self.model = load_entry(header["entry"])(**(header.get("args") or {}))
        describe = getattr(self.model, "describe", None)
        if not callable(describe):
            raise TypeError(f"the object returned by {header['entry']} has no describe() method")
        methods = [m for m in METHODS if callable(getattr(self.model, m, None))]
        return {"protocol_version": PROTOCOL_VERSION, "describe": describe(), "methods": methods,
                "worker": {"pid": os.getpid(), "python": sys.version.split()[0], "executable": sys.executable,
                           "numpy": np.__version__}}, []

    def call(self, op: str, header: dict, arrays: list[np.ndarray]) -> tuple[dict, list]:
        if self.model is None:
            raise RuntimeError("no handshake yet")
        method = getattr(self.model, op, None) if op in METHODS else None
        if not callable(method):
            raise NotImplementedError(f"the entry does not implement {op}()")
        if op == "encode_images":
            result = method(arrays[0])
        elif op == "encode_image_pairs":
            result = method(arrays[0], arrays[1] if header.get("has_previous") else None)
        elif op == "encode_texts":
            result = method(header["texts"], normalize=bool(header.get("normalize", True)))
        elif op in ("embed_prompt_list", "count_text_tokens"):
            result = method(header["texts"])
            if op == "count_text_tokens":
                return {"counts": [int(n) for n in result]}, []
        elif op == "similarity_grid":
            result = method(arrays[0], arrays[1])
        else:  # predict_boxes
            result = method(arrays[0], header["texts"])
        return pack_result(result)


def serve(sock: socket.socket) -> None:
    """Answer requests until `shutdown` or until the harness goes away."""
    worker, read_exact = Worker(), socket_reader(sock)
    while True:
        try:
            header, arrays = read_frame(read_exact)
        except (EOFError, ConnectionError):
            return  # the harness closed the connection: nothing left to do
        op, rid = header.get("op"), header.get("id")
        started = time.perf_counter()
        try:
            if op == "shutdown":
                close = getattr(worker.model, "close", None)
                if callable(close):
                    close()
                reply, out = {}, []
            elif op == "handshake":
                reply, out = worker.handshake(header, arrays)
            else:
                reply, out = worker.call(op, header, arrays)
            chunks = encode_frame({"id": rid, "ok": True, **reply, "worker_s": time.perf_counter() - started}, out)
        except Exception as exc:  # the entry's failure is reported, the worker stays up
            chunks = encode_frame({"id": rid, "ok": False, "error": _describe_error(exc),
                                   "traceback": traceback.format_exc(limit=20)})
        try:
            for chunk in chunks:
                sock.sendall(chunk)
        except ConnectionError:
            return
        if op == "shutdown":
            return


def watch_harness(pid: int, interval: float = 0.5) -> None:
    """Exit as soon as the harness process is gone (killed without a chance to stop this worker)."""
    def loop() -> None:
        while True:
            time.sleep(interval)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                os._exit(70)
            except PermissionError:
                pass  # exists, owned by someone else: cannot be ours, but do not guess
    threading.Thread(target=loop, name="msxr-harness-watch", daemon=True).start()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="msxr-bench remote adapter worker")
    ap.add_argument("--socket", required=True, help="unix socket the harness listens on")
    ap.add_argument("--harness-pid", type=int, default=None, help="exit when this process is gone")
    args = ap.parse_args(argv)
    if args.harness_pid:
        watch_harness(args.harness_pid)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(args.socket)
    try:
        serve(sock)
    finally:
        sock.close()


if __name__ == "__main__":
    main()
