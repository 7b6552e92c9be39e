"""A tiny numpy-only model served by the remote worker in tests, with switches that make it misbehave
(crash, hang, one bad item, a wrong handshake). Loaded by file path, so it never imports msxr-bench.

The model: 64 px input, a 4x4 grid of 16x16 blocks; each block's 4x4 sub-block means go through a fixed
random projection (tanh) to 8 dims; global = L2(mean of the unnormalised patches); a text is a seeded random
vector of its crc32. `FakeModel.reference_*` compute the same from float images, for in-process comparison.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import zlib

import numpy as np

DIM, GRID, CROP = 8, 4, 64
PROJECTION = np.random.default_rng(0).standard_normal((16, DIM)).astype(np.float32)


def _l2(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return x / np.linalg.norm(x, axis=axis, keepdims=True)


def patch_features(images: np.ndarray) -> np.ndarray:
    """float [B, 64, 64] in [0, 1] -> unnormalised [B, 4, 4, 8]."""
    b = images.shape[0]
    sub = images.reshape(b, GRID, 4, 4, GRID, 4, 4).mean(axis=(3, 6))  # [B, 4(gy), 4(sy), 4(gx), 4(sx)]
    sub = sub.transpose(0, 1, 3, 2, 4).reshape(b, GRID, GRID, 16)
    return np.tanh((sub - 0.5) @ PROJECTION * 3).astype(np.float32)


def text_vector(text: str) -> np.ndarray:
    return np.random.default_rng(zlib.crc32(text.encode())).standard_normal(DIM).astype(np.float32)


def describe_dict(**overrides: object) -> dict:
    meta = {"name": "fake-remote", "version": "1", "weights_source": "random", "weights_sha256": "0" * 64,
            "embedding_dim": DIM, "licence": "MIT"}
    return {"meta": meta, "capabilities": ["global", "patches", "text"], "identity": "fake-remote-identity",
            "geometry": {"kind": "resize_crop", "resize": CROP, "crop": CROP, "grid": [GRID, GRID],
                         "smoothing_sigma": None, "channels": 3},
            "max_text_tokens": 16, "map_placement": "exact", "device": "cpu", "precision": "fp32", **overrides}


class FakeModel:
    def __init__(self, crash_on: str = "", crash_how: str = "exit", hang_on: str = "", bad_item: str = "",
                 bad_what: str = "shape", describe: str = "", pidfile: str = "", slow: str = "0",
                 fail_start: str = "") -> None:
        if fail_start:
            raise RuntimeError(f"cannot load the weights: {fail_start}")
        self.crash_on, self.crash_how, self.hang_on = crash_on, crash_how, hang_on
        self.bad_item = int(bad_item) if bad_item else None
        self.bad_what, self.slow = bad_what, float(slow)
        self.overrides = json.loads(describe) if describe else {}
        self.endfile = pidfile + ".end" if pidfile else ""
        if pidfile:  # and how the worker ended: "closed" (clean shutdown) or "SIGTERM" (stopped by the harness)
            with open(pidfile, "w") as f:
                f.write(str(os.getpid()))
            signal.signal(signal.SIGTERM, self._terminated)
        print("fake model loaded (this line goes to the worker's stdout)")

    def _terminated(self, *_: object) -> None:
        with open(self.endfile, "w") as f:
            f.write("SIGTERM")
        os._exit(143)

    def close(self) -> None:
        if self.endfile:
            with open(self.endfile, "w") as f:
                f.write("closed")

    def describe(self) -> dict:
        return describe_dict(**self.overrides)

    def _misbehave(self, op: str) -> None:
        if op == self.crash_on:
            sys.stdout.flush()
            print(f"about to crash in {op}", file=sys.stderr, flush=True)
            if self.crash_how == "segv":
                os.kill(os.getpid(), signal.SIGSEGV)
            os._exit(3)
        if op == self.hang_on:
            if self.endfile:  # tell the test that the worker is now busy in this request
                with open(self.endfile.replace(".end", ".busy"), "w") as f:
                    f.write(op)
            time.sleep(3600)
        if self.slow:
            time.sleep(self.slow)

    def encode_images(self, crops: np.ndarray) -> dict:
        self._misbehave("encode_images")
        patches = patch_features(crops.astype(np.float32) / 255)
        out = {"global": _l2(patches.mean(axis=(1, 2))), "patches": _l2(patches)}
        if self.bad_item is not None and self.bad_item < len(crops):
            return [self._bad(i, out) if i == self.bad_item else {k: v[i] for k, v in out.items()}
                    for i in range(len(crops))]
        return out

    def _bad(self, i: int, out: dict) -> object:
        if self.bad_what == "raise":
            return ValueError("this image is too dark")
        item = {k: v[i] for k, v in out.items()}
        if self.bad_what == "shape":
            item["patches"] = item["patches"][:3]
        elif self.bad_what == "dtype":
            item["global"] = item["global"].astype(np.int64)
        else:
            item["global"] = item["global"] * np.nan
        return item

    def encode_texts(self, texts: list[str], normalize: bool = True) -> np.ndarray:
        self._misbehave("encode_texts")
        raw = np.stack([text_vector(t) for t in texts])
        return _l2(raw) if normalize else raw

    def predict_boxes(self, crops: np.ndarray, phrases: list[str]) -> list[np.ndarray]:
        """As many boxes as the phrase has words, modulo 3 (0, 1 or 2): the brightest 16x16 blocks, score =
        their mean; a phrase with "negative" gets a box of negative width (for the error path)."""
        out = []
        for crop, phrase in zip(crops, phrases):
            blocks = crop.astype(np.float32).reshape(GRID, 16, GRID, 16).mean(axis=(1, 3)) / 255
            order = np.argsort(-blocks, axis=None, kind="stable")[: len(phrase.split()) % 3]
            boxes = [[16 * (k % GRID), 16 * (k // GRID), 16, 16, blocks.flat[k]] for k in order]
            if "negative" in phrase:
                boxes = [[0, 0, -5, 16, 1.0]]
            out.append(np.array(boxes, np.float32).reshape(-1, 5))
        return out

    def count_text_tokens(self, texts: list[str]) -> list[int]:
        return [len(t.split()) + 2 for t in texts]


def make(**kwargs: str) -> FakeModel:
    return FakeModel(**kwargs)
