"""Where and how the model runs: device choice, precision/autocast, eval + inference mode.

The harness owns these (an adapter only encodes); nothing here knows about tasks or metrics.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Iterator, Literal

import torch

from msxr_bench.adapters.base import EncoderAdapter, ImageEmbeddings

Precision = Literal["fp32", "bf16", "fp16"]
AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class RuntimeConfigError(ValueError):
    """An impossible device/precision request (e.g. --device cuda without CUDA)."""


@dataclass(frozen=True)
class Runtime:
    device: torch.device
    precision: Precision = "fp32"

    @property
    def autocast(self) -> bool:
        return self.precision != "fp32"

    @property
    def default_batch_size(self) -> int:
        """Images per forward when none is asked for: 16 on CUDA, 2 on CPU, where larger batches ran 2.5x slower
        per image (benchmarks/results/end_to_end.md)."""
        return 16 if self.device.type == "cuda" else 2

    @property
    def device_name(self) -> str:
        if self.device.type == "cuda":
            return torch.cuda.get_device_name(self.device)
        return "cpu"

    @contextlib.contextmanager
    def inference(self) -> Iterator[None]:
        """`torch.inference_mode`, plus autocast when a reduced precision was asked for. `resolve_runtime`
        allows that on CUDA only; a `Runtime` built directly autocasts on any device (CPU bf16 parity checks)."""
        with torch.inference_mode():
            if self.autocast:
                with torch.autocast(device_type=self.device.type, dtype=AUTOCAST_DTYPES[self.precision]):
                    yield
            else:
                yield


def resolve_runtime(device: str = "auto", precision: str = "fp32") -> Runtime:
    """`device` in auto|cpu|cuda|cuda:N; reduced precision is an autocast on CUDA only."""
    if precision not in ("fp32", "bf16", "fp16"):
        raise RuntimeConfigError(f"precision must be fp32, bf16 or fp16, got {precision!r}")
    if device == "auto":
        dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        try:
            dev = torch.device(device)
        except RuntimeError as exc:
            raise RuntimeConfigError(f"unknown device {device!r} (use auto, cpu, cuda or cuda:N)") from exc
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeConfigError("--device cuda was asked for but torch sees no CUDA device")
        if dev.type not in ("cpu", "cuda"):
            raise RuntimeConfigError(f"unsupported device {device!r} (use auto, cpu, cuda or cuda:N)")
    if precision != "fp32" and dev.type != "cuda":
        raise RuntimeConfigError(f"--precision {precision} is an autocast for CUDA; on {dev.type} use fp32")
    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        raise RuntimeConfigError("--precision bf16: this GPU does not support bfloat16; use fp16 or fp32")
    return Runtime(dev, precision)  # type: ignore[arg-type]


def prepare_adapter(adapter: EncoderAdapter, runtime: Runtime) -> EncoderAdapter:
    """Eval mode on the run's device (the adapter never decides either)."""
    return adapter.eval().to(runtime.device)


def embeddings_to_float32(emb: ImageEmbeddings) -> ImageEmbeddings:
    """Metrics run in float32 whatever precision the forward pass used. Tensors are made contiguous, as
    embeddings read back from a cache are: the similarity of a stored and of a fresh embedding then goes
    through the same kernels and rounds the same way."""
    extras = {k: v.float().contiguous() if torch.is_tensor(v) and v.is_floating_point() else v
              for k, v in emb.extras.items()}
    patches = None if emb.patches is None else emb.patches.float().contiguous()
    return ImageEmbeddings(global_=emb.global_.float().contiguous(), patches=patches, extras=extras)
