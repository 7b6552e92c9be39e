"""What a cache entry depends on, as short hashes: image content, preprocessing, adapter, numerics.

- an image is named by the sha256 of its file bytes (a renamed copy hits, an edited file misses);
- preprocessed pixels depend on the geometry's resize/crop numbers and the decoders (package versions);
- image embeddings depend on the adapter (`adapter.identity()`: name, version, weights sha256, geometry;
  plus a fingerprint of the parameters when the adapter declares no weights sha256), on the pixels key,
  on the device type and the autocast precision, and on the torch version;
- text embeddings depend on the adapter likewise, the text itself, the device type, precision and torch.
Every key also carries a format number, bumped whenever the stored layout or a producing step changes.
"""

from __future__ import annotations

import hashlib
import json
from importlib import metadata
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from msxr_bench.adapters.base import EncoderAdapter
    from msxr_bench.geometry.types import Geometry

FORMAT = 1  # bump when a stored layout, the decoder or the preprocessing code changes meaning
DECODER_PACKAGES = ("msxr-bench", "pillow", "pydicom", "scikit-image", "imageio", "numpy")


def digest(fields: dict) -> str:
    """24 hex digits of the sha256 of `fields` as canonical JSON."""
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()[:24]






def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "absent"


def pixels_fields(geometry: "Geometry") -> dict:
    """Everything the uint8 crop of an image depends on besides the image."""
    return {"format": FORMAT, "what": "uint8 crop", "kind": geometry.kind, "resize": geometry.resize,
            "crop": geometry.crop, "decoders": {p: _version(p) for p in DECODER_PACKAGES}}


def weights_fingerprint(adapter: "EncoderAdapter") -> str:
    """sha256 over the names, dtypes, shapes and bytes of the adapter's parameters and buffers."""
    h = hashlib.sha256()
    for name, tensor in adapter.state_dict().items():
        t = tensor.detach().to("cpu").contiguous().reshape(-1)
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def adapter_fields(adapter: "EncoderAdapter") -> dict:
    """The adapter's identity; its parameters' fingerprint when its meta vouches for no weights file."""
    fields = {"identity": adapter.identity(), "class": f"{type(adapter).__module__}.{type(adapter).__qualname__}",
              "meta": adapter.meta.to_dict(), "geometry": adapter.geometry.to_dict()}
    if not adapter.meta.weights_sha256:
        fields["weights_fingerprint"] = weights_fingerprint(adapter)
    return fields


def numerics_fields(device: torch.device, precision: str) -> dict:
    return {"device": torch.device(device).type, "precision": precision, "torch": torch.__version__}
