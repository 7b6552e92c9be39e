"""What a task run needs besides its parameters: the model and where it runs, the data root, and the run-wide
options every task shares (batching, limit, bootstrap, seed, heatmaps, cache, shards, text policy).

Task-specific choices are not here: they are the task's typed parameters (`tasks/params.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from msxr_bench.adapters.base import EncoderAdapter
    from msxr_bench.cache import EvalCache
    from msxr_bench.engine import ImageEmbeddingProvider, Runtime, TextEmbeddingMemo, TextLengthPolicy


@dataclass
class RunContext:
    adapter: "EncoderAdapter"
    runtime: "Runtime"
    data_root: Path
    adapter_name: str | None = None  # the name it was built by (registry); None = adapter.meta.name
    adapter_options: dict[str, str] = field(default_factory=dict)
    batch_size: int | None = None  # images per forward; None = runtime.default_batch_size
    num_workers: int = 0
    limit: int | None = None
    seed: int = 0
    n_bootstrap: int = 1000
    truncate_long_phrases: bool = False
    keep_text: bool = False  # write dataset text into rows (local debugging only; the file says so)
    save_heatmaps: int = 0
    heatmap_dir: Path | None = None
    argv: list[str] | None = None
    rank: int = 0  # multi-process runs: this process evaluates shard(images, rank, world_size)
    world_size: int = 1
    # multi-process runs: obj -> [obj of every rank] (e.g. torch.distributed.all_gather_object); None = 1 process
    gather: "Callable[[Any], list[Any]] | None" = None
    image_provider: "ImageEmbeddingProvider | None" = None  # None = ModelImageEmbeddings (with `cache`)
    cache: "EvalCache | None" = None  # on-disk pixels/embeddings cache; None = compute everything
    # keywords of data.images.load_image: allowed_modalities (None = any), allow_palette_color
    decode_options: dict[str, Any] = field(default_factory=dict)
    progress: bool = True

    def __post_init__(self) -> None:
        self.data_root = Path(self.data_root)
        if self.batch_size is None:
            self.batch_size = self.runtime.default_batch_size
        if self.adapter_name is None:
            self.adapter_name = self.adapter.meta.name

    # ---- the engine of a run ----------------------------------------------------------------------------
    def image_provider_for(self, adapter: "EncoderAdapter") -> "ImageEmbeddingProvider":
        """`image_provider` if given, else DataLoader decoding + batched forward (with `cache`, if any)."""
        from msxr_bench.engine import ModelImageEmbeddings

        if self.image_provider is not None:
            return self.image_provider
        return ModelImageEmbeddings(adapter, self.runtime, self.batch_size, self.num_workers,
                                    progress="images" if self.progress else None, cache=self.cache,
                                    decode_options=self.decode_options)

    def image_decoding_record(self) -> dict[str, Any]:
        """The DICOM acceptance policy images were decoded under (recorded in the scoring of image tasks)."""
        from msxr_bench.data.images import RADIOGRAPH_MODALITIES

        modalities = self.decode_options.get("allowed_modalities", RADIOGRAPH_MODALITIES)
        return {"allowed_modalities": None if modalities is None else sorted(modalities),
                "allow_palette_color": bool(self.decode_options.get("allow_palette_color", False))}

    def text_policy(self, adapter: "EncoderAdapter") -> "TextLengthPolicy":
        from msxr_bench.engine import TextLengthPolicy

        return TextLengthPolicy.for_adapter(adapter, self.truncate_long_phrases)

    def text_memo(self, adapter: "EncoderAdapter", policy: "TextLengthPolicy",
                  batch_size: int = 64) -> "TextEmbeddingMemo":
        from msxr_bench.engine import TextEmbeddingMemo

        return TextEmbeddingMemo(adapter, self.runtime, policy, batch_size=batch_size, cache=self.cache)

    def gather_all(self, obj: Any) -> list[Any]:
        """`obj` of every rank (a list of one in a single process)."""
        return self.gather(obj) if self.gather is not None else [obj]

    def gather_results(self, scores: dict, failures: list) -> tuple[dict, list]:
        """Per-image results and image failures of every rank, merged (unchanged in a single process)."""
        if self.gather is None:
            return scores, failures
        merged: dict = {}
        all_failures: list = []
        for part_scores, part_failures in self.gather((scores, failures)):
            merged.update(part_scores)
            all_failures.extend(part_failures)
        return merged, all_failures
