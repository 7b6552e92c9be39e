"""Task declarations (what a task is: dataset, split, main score, defaults) and the run context they get.

A task is a `TaskSpec` literal; its behaviour lives once per task type in the module named by `runner`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal

from pydantic import BaseModel, ConfigDict, JsonValue

if TYPE_CHECKING:
    from msxr_bench.adapters.base import EncoderAdapter
    from msxr_bench.cache import EvalCache
    from msxr_bench.engine import ImageEmbeddingProvider, Runtime
    from msxr_bench.results import TaskResult

TaskType = Literal["phrase-grounding", "zero-shot-classification", "zero-shot-segmentation", "text-similarity",
                   "nli-fine-tuning"]


class DatasetSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    versions: tuple[str, ...]
    default_version: str
    splits: tuple[str, ...]  # accepted values of --split ("all" = every sample)
    default_split: str
    reference: str


class TaskSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str
    version: str  # bump on any change that can move a number
    type: TaskType
    dataset: DatasetSpec
    main_score: str
    metrics: tuple[str, ...]
    needs_images: bool = True
    needs_patch_embeddings: bool = False
    defaults: dict[str, JsonValue] = {}
    runner: str  # "module:function" taking (spec, EvalContext) -> TaskResult

    def run(self, ctx: "EvalContext") -> "TaskResult":
        module, _, attr = self.runner.partition(":")
        fn: Callable = getattr(importlib.import_module(module), attr)
        return fn(self, ctx)


class TaskSkipped(RuntimeError):
    """The task cannot run with this adapter (e.g. grounding without patch embeddings); not a failure."""


@dataclass
class EvalContext:
    """Everything a task run needs besides its spec; the CLI builds one, tests may build their own."""

    adapter: "EncoderAdapter"
    adapter_name: str
    runtime: "Runtime"
    data_root: Path
    adapter_options: dict[str, str] = field(default_factory=dict)
    split: str | None = None  # None = the task's default
    mscxr_version: str | None = None
    split_scheme: str = "gloria"
    positive_prompts: tuple[str, ...] | None = None
    negative_prompts: tuple[str, ...] | None = None
    batch_size: int | None = None  # images per forward; None = runtime.default_batch_size
    num_workers: int = 0
    limit: int | None = None
    seed: int = 0
    n_bootstrap: int = 1000
    truncate_long_phrases: bool = False
    save_heatmaps: int = 0
    heatmap_dir: Path | None = None
    argv: list[str] | None = None
    rank: int = 0  # multi-process runs: this process evaluates shard(images, rank, world_size)
    world_size: int = 1
    # multi-process runs: obj -> [obj of every rank] (e.g. torch.distributed.all_gather_object); None = 1 process
    gather: "Callable[[Any], list[Any]] | None" = None
    image_provider: "ImageEmbeddingProvider | None" = None  # None = ModelImageEmbeddings (with `cache`)
    cache: "EvalCache | None" = None  # on-disk pixels/embeddings cache; None = compute everything
    # radnli (fine-tuning) only; None = the spec's defaults
    seeds: tuple[int, ...] | None = None
    max_epochs: int | None = None
    save_dir: Path | None = None
    nli_hyperparameters: dict[str, Any] | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        if self.batch_size is None:
            self.batch_size = self.runtime.default_batch_size
