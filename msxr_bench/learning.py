"""The few numbers that say whether a training run learned: MS-CXR grounding (macro CNR, signed CNR, the
right-minus-wrong phrase gap, mIoU) and RSNA zero-shot AUROC for one or more prompt pairs, computed by the
tasks on a checkpoint directory (used by the proof-of-learning benchmark and tests). The "before" side is
`training.recipes.init_checkpoint`: the same model at initialisation, through the same evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from msxr_bench.adapters.registry import build_adapter
from msxr_bench.engine import ImageItem, ModelImageEmbeddings, resolve_runtime
from msxr_bench.tasks.catalog import TASKS
from msxr_bench.tasks.context import RunContext
from msxr_bench.tasks.driver import run_task

GROUNDING_METRICS = {"cnr": "cnr_macro", "signed_cnr": "signed_cnr_macro", "phrase_gap": "phrase_gap_macro",
                     "miou": "miou_macro"}
PAPER_PROMPTS = (("Findings suggesting pneumonia",), ("No evidence of pneumonia",))


@dataclass(frozen=True)
class PromptPair:
    name: str
    positive: tuple[str, ...]
    negative: tuple[str, ...]


class CachedImageEmbeddings:
    """An image-embedding provider that remembers the batches of an item list (several prompt pairs, one
    forward pass over the images)."""

    def __init__(self, inner: ModelImageEmbeddings) -> None:
        self.inner, self._memo = inner, {}

    def batches(self, items: Sequence[ImageItem]) -> Iterator:
        key = tuple(item.key for item in items)
        if key not in self._memo:
            self._memo[key] = list(self.inner.batches(items))
        yield from self._memo[key]


def learning_metrics(model: str, checkpoint: Path, data_root: Path, prompt_pairs: Sequence[PromptPair],
                     rsna_split: str = "all", model_args: dict | None = None, limit: int | None = None,
                     batch_size: int = 32) -> dict[str, float]:
    """{"cnr", "signed_cnr", "phrase_gap", "miou", "auroc_<prompt pair name>"...} of a checkpoint directory."""
    options = {"checkpoint": str(checkpoint), **(model_args or {})}
    adapter = build_adapter(model, **options)
    runtime = resolve_runtime("cpu", "fp32")
    provider = CachedImageEmbeddings(ModelImageEmbeddings(adapter, runtime, batch_size, 0, progress=None))
    run = RunContext(adapter=adapter, runtime=runtime, data_root=data_root, adapter_name=model,
                     adapter_options=options, batch_size=batch_size, num_workers=0, n_bootstrap=0, progress=False,
                     limit=limit)
    grounding = run_task(TASKS["ms-cxr"].task(), TASKS["ms-cxr"].make_params({}), run)
    out = {name: grounding.metrics[key].value for name, key in GROUNDING_METRICS.items()}
    run.image_provider = provider
    rsna = TASKS["rsna-cls"]
    for pair in prompt_pairs:
        params = rsna.make_params({"split": rsna_split, "positive_prompts": pair.positive,
                                   "negative_prompts": pair.negative})
        out[f"auroc_{pair.name}"] = run_task(rsna.task(), params, run).metrics["auroc"].value
    return out
