"""Worker entry: serve any msxr-bench adapter (built-in or plugin) from another environment that has msxr-bench
installed, e.g. a plugin that needs another `transformers`, or a model kept out of the harness's process.
The one entry here that imports msxr-bench (in the worker's environment).

    --model remote --model-arg python=/other/venv/bin/python \\
        --model-arg entry=msxr_bench.remote.workers.serve_adapter:make_adapter --model-arg arg.model=biovil \\
        --model-arg arg.image_weights=... [--model-arg arg.device=cuda:0 --model-arg arg.threads=4]
"""

from __future__ import annotations

import numpy as np

SERVABLE = ("global", "patches", "text", "image_pairs", "boxes")


class ServedAdapter:
    """An EncoderAdapter behind the worker's numpy interface: crops in, float32 arrays out."""

    def __init__(self, model: str, device: str = "auto", threads: str | int = "", **options: str) -> None:
        import torch

        from msxr_bench.adapters.registry import build_adapter
        from msxr_bench.engine import distributed

        if threads:
            torch.set_num_threads(int(threads))
        # auto = CUDA when available; under torchrun (LOCAL_RANK inherited) each rank's worker takes its own GPU
        self.torch = torch
        self.device = torch.device(distributed.rank_device(device, distributed.from_environment()))
        self.adapter = build_adapter(model, **options).eval().to(self.device)

    def describe(self) -> dict:
        a = self.adapter
        geometry = getattr(a, "geometry", None)
        return {"meta": a.meta.to_dict(), "identity": a.identity(),
                "capabilities": sorted(set(a.capabilities) & set(SERVABLE)),
                "geometry": geometry.to_dict() if geometry is not None else None,
                "max_text_tokens": a.max_text_tokens, "map_placement": a.map_placement,
                "device": str(self.device), "precision": "fp32"}

    def _input(self, crops: np.ndarray):
        from msxr_bench.engine.pixels import to_model_input

        return to_model_input(self.torch.from_numpy(crops), self.adapter.geometry.channels, self.device)

    @staticmethod
    def _arrays(emb) -> dict:
        return {"global": emb.global_.float().cpu().numpy(),
                "patches": None if emb.patches is None else emb.patches.float().cpu().numpy()}

    def encode_images(self, crops: np.ndarray) -> dict:
        with self.torch.inference_mode():
            return self._arrays(self.adapter.encode_images(self._input(crops)))

    def encode_image_pairs(self, current: np.ndarray, previous: np.ndarray | None) -> dict:
        with self.torch.inference_mode():
            prior = None if previous is None else self._input(previous)
            return self._arrays(self.adapter.encode_image_pairs(self._input(current), prior))

    def encode_texts(self, texts: list[str], normalize: bool = True) -> np.ndarray:
        with self.torch.inference_mode():
            return self.adapter.encode_texts(texts, normalize=normalize).float().cpu().numpy()

    def embed_prompt_list(self, prompts: list[str]) -> np.ndarray:
        with self.torch.inference_mode():
            return self.adapter.embed_prompt_list(prompts).float().cpu().numpy()

    def count_text_tokens(self, texts: list[str]) -> list[int]:
        from msxr_bench.engine.texts import token_counter

        count = token_counter(self.adapter)
        if count is None:
            raise NotImplementedError(f"{self.adapter.meta.name} offers no way to count tokens")
        return [count(t) for t in texts]

    def predict_boxes(self, crops: np.ndarray, phrases: list[str]) -> list[np.ndarray]:
        with self.torch.inference_mode():
            boxes = self.adapter.predict_boxes(self._input(crops), phrases)
        return [np.array([[b.x, b.y, b.w, b.h, b.score] for b in item], np.float32).reshape(-1, 5) for item in boxes]


def make_adapter(model: str, **options: str) -> ServedAdapter:
    """The entry: `model` = the adapter's name; other arguments are its `--model-arg`s, plus `device` (auto, cpu,
    cuda, cuda:N) and `threads`."""
    return ServedAdapter(model, **options)
