"""The image embedding of each MS-CXR-T image pair: current + prior through `encode_image_pairs`
(`engine/image_pairs.py`) for adapters with the `image_pairs` capability, else the current image alone through the
run's image provider. Which one was used is recorded as `scoring.image_input`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import torch

from msxr_bench.adapters.base import IMAGE_PAIRS
from msxr_bench.data.mscxr_t import ProgressionSample
from msxr_bench.engine import ImageItem
from msxr_bench.engine.image_pairs import ImagePairItem, ModelImagePairEmbeddings

if TYPE_CHECKING:
    from msxr_bench.tasks.context import RunContext

PAIRED = "current + prior"
CURRENT_ONLY = "current only (no image_pairs capability)"
CURRENT_ONLY_ASKED = "current only (asked: image_input=current-only)"


def pair_key(sample: ProgressionSample) -> str:
    """One image pair (all findings of an MS-CXR-T row share it)."""
    return f"{sample.dicom_id}|{sample.previous_dicom_id}"


def image_input_of(adapter, asked: str) -> str:
    if asked == "current-only":
        return CURRENT_ONLY_ASKED
    return PAIRED if IMAGE_PAIRS in adapter.capabilities else CURRENT_ONLY


def pair_embeddings(run: "RunContext", samples: Sequence[ProgressionSample], image_input: str
                    ) -> tuple[dict[str, torch.Tensor], list]:
    """{pair_key: float64 [D] global embedding on the CPU} of every pair that decoded (all ranks), and the failures."""
    unique: dict[str, ProgressionSample] = {}
    for s in samples:
        unique.setdefault(pair_key(s), s)
    out: dict[str, torch.Tensor] = {}
    failures: list = []
    if image_input == PAIRED:
        items = [ImagePairItem(k, s.image_path, s.previous_image_path) for k, s in unique.items()]
        provider = ModelImagePairEmbeddings(run.adapter, run.runtime, run.batch_size, run.num_workers,
                                            progress="image pairs" if run.progress else None,
                                            decode_options=run.decode_options)
        batches = provider.batches(items[run.rank::run.world_size])
    else:
        items = [ImageItem(k, s.image_path) for k, s in unique.items()]
        batches = run.image_provider_for(run.adapter).batches(items[run.rank::run.world_size])
    for batch in batches:
        failures.extend(batch.failures)
        if batch.embeddings is not None:
            for item, emb in zip(batch.items, batch.embeddings.global_.double().cpu()):
                out[item.key] = emb
    return run.gather_results(out, failures)
