"""`msxr-bench evaluate`: run tasks on one model, print the tables, write OUTPUT/<model>/<task>.json.

Thin: parsing and printing only; the work is in `msxr_bench.tasks` (library API: `tasks.evaluate_task`).
"""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path

import click

from msxr_bench.tasks import TASKS

DEFAULT_WORKERS = min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)

EPILOG = """\b
Examples:
  msxr-bench evaluate --model biovil --task ms-cxr --data-root ~/data
  msxr-bench evaluate --model gloria --model-arg weights=gloria_resnet50.safetensors \\
      --task rsna-cls --task rsna-seg --data-root ~/data --split test --device cuda --precision bf16
  msxr-bench evaluate --model biovil --task ms-cxr --ms-cxr-version 1.1.0 --split test --save-heatmaps 20
  msxr-bench evaluate --model biovil --task rsna-cls --task rsna-seg --data-root ~/data --cache-dir ~/.cache/msxr-eval
  torchrun --nproc-per-node 4 -m msxr_bench evaluate --model biovil --task ms-cxr --data-root ~/data

\b
Data root layout: DATA_ROOT/ms-cxr/ + DATA_ROOT/mimic-cxr-jpg/ (ms-cxr), DATA_ROOT/rsna-pneumonia/
(rsna-cls, rsna-seg), DATA_ROOT/radnli/ (radnli-zs). `msxr-bench toyworld` writes a synthetic one.
Caches (--cache-dir, off by default): uint8 crops per geometry and image/text embeddings per model, keyed by
the adapter's identity (name, version, weights sha256, geometry), precision, device type and the sha256 of each
image file; a re-run, or rsna-seg after rsna-cls, reads them instead of decoding and encoding again.
Under torchrun each process evaluates a shard of the images; rank 0 gathers the rows and writes the results.
Exit status: 0 when every requested task ran or was skipped for a reason printed here (e.g. a model without
patch embeddings on ms-cxr) and at least one ran; 1 when a task failed or nothing ran.
"""


@click.command("evaluate", epilog=EPILOG)
@click.option("--model", "model_name", required=True, metavar="NAME",
              help="Adapter name (built-in or plugin; `msxr-bench list` shows them).")
@click.option("--model-arg", "model_args", multiple=True, metavar="KEY=VALUE",
              help="Adapter option, repeatable (e.g. biovil: image_weights=PATH, geometry=exact).")
@click.option("--task", "task_names", required=True, multiple=True, type=click.Choice(sorted(TASKS)),
              help="Task to run, repeatable.")
@click.option("--data-root", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder holding the datasets (layout below).")
@click.option("--split", "splits", multiple=True, metavar="[TASK=]SPLIT",
              help="Split for every task, or for one task with TASK=SPLIT (repeatable). ms-cxr: all (default) or, "
                   "for 1.1.0 only, train|val|test; rsna-*: train|val|test|all (default test); radnli-zs: dev|test "
                   "(default test); radnli: test.")
@click.option("--ms-cxr-version", type=click.Choice(["0.1", "1.1.0"]), default="0.1", show_default=True,
              help="MS-CXR release: 0.1 = the 1,162 pairs of the BioViL paper; 1.1.0 adds an official split.")
@click.option("--split-scheme", type=click.Choice(["gloria", "mgca"]), default="gloria", show_default=True,
              help="RSNA split to rebuild from the Kaggle labels (GLoRIA 70/15/15 or MGCA).")
@click.option("--positive-prompt", multiple=True, metavar="TEXT",
              help="RSNA positive prompt(s); several are averaged. Default: 'Findings suggesting pneumonia'.")
@click.option("--negative-prompt", multiple=True, metavar="TEXT",
              help="RSNA negative prompt(s); several are averaged. Default: 'No evidence of pneumonia'.")
@click.option("--output", type=click.Path(file_okay=False, path_type=Path), default=Path("results"),
              show_default=True, help="Results go to OUTPUT/<model>/<task>.json.")
@click.option("--device", default="auto", show_default=True, metavar="auto|cpu|cuda[:N]",
              help="Where the model runs; auto = CUDA when available.")
@click.option("--precision", type=click.Choice(["fp32", "bf16", "fp16"]), default="fp32", show_default=True,
              help="bf16/fp16 = autocast on CUDA (recorded); metrics are always computed in fp32.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None,
              help="Images per forward. Default: 16 on CUDA, 2 on CPU (where larger batches run slower per image: "
                   "a ResNet-50 at 480 px takes 0.21 s per image at batch 2, 0.5 s at batch 16 on 2 cores).")
@click.option("--num-workers", type=click.IntRange(min=0), default=DEFAULT_WORKERS, show_default=True,
              help="DataLoader workers decoding and preprocessing images (0 = in the main process); default: "
                   "4, or fewer on a machine with fewer cores.")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="Evaluate only the first N samples (recorded; for smoke tests, not for reporting).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the bootstrap and of the phrase-sensitivity control's draws.")
@click.option("--bootstrap", "n_bootstrap", type=click.IntRange(min=0), default=1000, show_default=True,
              help="Bootstrap resamples for the 95% CIs (0 = no CIs).")
@click.option("--save-heatmaps", type=click.IntRange(min=0), default=0, show_default=True, metavar="N",
              help="Write PNG overlays of the first N samples to OUTPUT/<model>/heatmaps/ (ms-cxr, rsna-seg).")
@click.option("--radnli-seeds", default=None, metavar="N,N,...",
              help="radnli (fine-tuning): seeds to fine-tune with (default 0,1,2,3,4); the mean and sd are reported.")
@click.option("--radnli-max-epochs", type=click.IntRange(min=1), default=None,
              help="radnli (fine-tuning): at most this many epochs (default 20, early stopping on RadNLI dev).")
@click.option("--truncate-long-phrases", is_flag=True,
              help="Cut texts longer than the text encoder's limit at a word boundary (recorded) instead of failing.")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              envvar="MSXR_EVAL_CACHE", show_envvar=True,
              help="Keep preprocessed images and image/text embeddings here and reuse them (default: no cache).")
@click.option("--no-cache", is_flag=True, help="Ignore --cache-dir / MSXR_EVAL_CACHE: compute everything.")
def evaluate_cmd(model_name: str, model_args: tuple[str, ...], task_names: tuple[str, ...], data_root: Path,
                 splits: tuple[str, ...], ms_cxr_version: str, split_scheme: str, positive_prompt: tuple[str, ...],
                 negative_prompt: tuple[str, ...], output: Path, device: str, precision: str, batch_size: int | None,
                 num_workers: int, limit: int | None, seed: int, n_bootstrap: int, save_heatmaps: int,
                 radnli_seeds: str | None, radnli_max_epochs: int | None, truncate_long_phrases: bool,
                 cache_dir: Path | None, no_cache: bool) -> None:
    """Evaluate a model on MS-CXR grounding, RSNA pneumonia classification/segmentation and RadNLI similarity.

    Prints a per-category table per task and writes one validated results JSON per task (with per-sample
    rows, every scoring choice and the run's provenance).
    """
    from msxr_bench.adapters.registry import AdapterLoadError, UnknownAdapterError, build_adapter, parse_model_args
    from msxr_bench.adapters.weights import WeightsUnavailableError
    from msxr_bench.engine import RuntimeConfigError, distributed, resolve_runtime

    try:
        options = parse_model_args(model_args)
        launch = distributed.from_environment()
        runtime = resolve_runtime(distributed.rank_device(device, launch), precision)
        split_of = split_per_task(splits, task_names)
        seeds = tuple(int(x) for x in radnli_seeds.split(",")) if radnli_seeds else None
    except (ValueError, RuntimeConfigError) as exc:
        raise click.UsageError(str(exc)) from exc
    try:
        adapter = build_adapter(model_name, **options)
    except (UnknownAdapterError, AdapterLoadError, WeightsUnavailableError, ValueError, OSError) as exc:
        raise click.ClickException(f"cannot build model {model_name!r}: {exc}") from exc
    distributed.start(launch, runtime.device)
    try:
        run_tasks(adapter, model_name, options, runtime, launch, task_names, split_of, data_root=data_root,
                  mscxr_version=ms_cxr_version, split_scheme=split_scheme,
                  positive_prompts=positive_prompt or None, negative_prompts=negative_prompt or None,
                  batch_size=batch_size, num_workers=num_workers,
                  limit=limit, seed=seed, n_bootstrap=n_bootstrap,
                  truncate_long_phrases=truncate_long_phrases, save_heatmaps=save_heatmaps, output=output,
                  seeds=seeds, max_epochs=radnli_max_epochs, cache_dir=None if no_cache else cache_dir)
    finally:
        distributed.stop()


def run_tasks(adapter, model_name: str, options: dict, runtime, launch, task_names: tuple[str, ...],
              split_of: dict[str, str], *, output: Path, cache_dir: Path | None, **context) -> None:
    """Run each task (this process's shard under torchrun), print its table and timings, write its JSON."""
    from msxr_bench.engine import distributed, profile
    from msxr_bench.tasks import EvalContext, TaskSkipped, evaluate_task, format_result

    cache = None
    if cache_dir is not None:
        from msxr_bench.cache import EvalCache

        cache = EvalCache(cache_dir)
    lead = launch.is_main
    out_dir = output / model_name
    ctx = EvalContext(
        adapter=adapter, adapter_name=model_name, adapter_options=options, runtime=runtime,
        heatmap_dir=out_dir / "heatmaps", argv=list(sys.argv), cache=cache, progress=lead, **context,
    )
    if launch.distributed:
        ctx = replace(ctx, rank=launch.rank, world_size=launch.world_size, gather=distributed.gather)
    say = click.echo if lead else (lambda *args, **kwargs: None)
    shards = f", rank {launch.rank} of {launch.world_size}" if launch.distributed else ""
    ran, failed = [], []
    for name in dict.fromkeys(task_names):
        say(f"== {name} ({model_name}, {runtime.device}, {runtime.precision}{shards})", err=True)
        profile.reset()
        try:
            result, path = evaluate_task(TASKS[name], replace(ctx, split=split_of.get(name)), out_dir if lead else None)
        except TaskSkipped as exc:
            say(f"skipped {name}: {exc}", err=True)
            continue
        except (ValueError, OSError) as exc:  # data / configuration errors carry clear messages
            say(f"error in {name}: {type(exc).__name__}: {exc}", err=True)
            failed.append(name)
            continue
        ran.append(name)
        say(format_result(result))
        say(profile.format_summary(result.provenance.wall_time_s), err=True)
        say(f"wrote {path}", err=True)
    if failed or not ran:
        why = f"failed: {', '.join(failed)}" if failed else "no task ran"
        raise click.ClickException(why)


def split_per_task(values: tuple[str, ...], task_names: tuple[str, ...]) -> dict[str, str]:
    """`--split S` applies to every task, `--split TASK=S` to one (and wins over a plain S)."""
    common = [v for v in values if "=" not in v]
    if len(common) > 1:
        raise ValueError(f"--split given twice without a task: {', '.join(common)} (use TASK=SPLIT)")
    out = {name: common[0] for name in task_names} if common else {}
    for value in values:
        if "=" in value:
            task, _, split = value.partition("=")
            if task not in TASKS:
                raise ValueError(f"--split {value}: unknown task {task!r} (tasks: {', '.join(TASKS)})")
            out[task] = split
    return out
