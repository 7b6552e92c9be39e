"""`msxr-bench evaluate`: run tasks on one model, print the tables, write OUTPUT/<model>/<task>.json and run.json.

Thin: flags -> `msxr_bench.evaluate` (preflight, run, atomic files) and printing; nothing is computed here.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from msxr_bench.tasks.catalog import TASKS

DEFAULT_WORKERS = min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)

EPILOG = """\b
Examples:
  msxr-bench evaluate --model biovil --task ms-cxr --data-root ~/data
  msxr-bench evaluate --model gloria --model-arg weights=gloria_resnet50.safetensors \\
      --task rsna-cls --task rsna-seg --data-root ~/data --split test --device cuda --precision bf16
  msxr-bench evaluate --model biovil --task ms-cxr --protocol v1.1.0-test --split test --save-heatmaps 20
  msxr-bench evaluate --model biovil --task rsna-cls --task-arg 'rsna-cls.positive_prompts=["Pneumonia"]' ...
  msxr-bench evaluate --model biovil --task rsna-cls --task rsna-seg --data-root ~/data --cache-dir ~/.cache/msxr
  torchrun --nproc-per-node 4 -m msxr_bench evaluate --model biovil --task ms-cxr --data-root ~/data

\b
Data root layout: DATA_ROOT/ms-cxr/ + DATA_ROOT/mimic-cxr-jpg/ (ms-cxr), DATA_ROOT/rsna-pneumonia/
(rsna-cls, rsna-seg), DATA_ROOT/radnli/ (+ DATA_ROOT/mednli/ for radnli). `msxr-bench toyworld` writes one.
Everything that can be checked without the model (tasks, protocols, splits, task arguments, the files each task
reads, the model's options, a writable --output) is checked first, in seconds. `msxr-bench list --protocols`
and `msxr-bench list --model NAME` show the protocols and a model's options.
Caches (--cache-dir, off by default): uint8 crops per geometry and image/text embeddings per model, keyed by the
adapter's identity, precision, device type and the sha256 of each image file.
Results never hold dataset text (phrases, reports, sentences): ids and hashes only, unless --keep-text.
Exit status: 0 when every requested task ran or was skipped for a reason printed here and at least one ran; 1
when a task failed, nothing ran, or more samples were skipped than --max-skipped allows; 130 on Ctrl-C.
"""


@click.command("evaluate", epilog=EPILOG)
@click.option("--model", "model_name", required=True, metavar="NAME",
              help="Adapter name (built-in or plugin; `msxr-bench list` shows them).")
@click.option("--model-arg", "model_args", multiple=True, metavar="KEY=VALUE",
              help="Adapter option, repeatable (`msxr-bench list --model NAME` lists them).")
@click.option("--task", "task_names", required=True, multiple=True, type=click.Choice(sorted(TASKS)),
              help="Task to run, repeatable.")
@click.option("--data-root", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder holding the datasets (layout below).")
@click.option("--split", "splits", multiple=True, metavar="[TASK=]SPLIT",
              help="Split within the protocol, for every task or one task (repeatable); aliases like valid are "
                   "accepted. Defaults: ms-cxr all (v0.1) / test (v1.1.0), rsna-* test, radnli* test.")
@click.option("--protocol", "protocols", multiple=True, metavar="[TASK=]NAME",
              help="Named protocol (release + split rule), e.g. ms-cxr=v1.1.0-test, rsna-cls=mgca.")
@click.option("--task-arg", "task_args", multiple=True, metavar="TASK.KEY=VALUE",
              help="Task parameter (JSON values: numbers, true/false, [\"lists\"]), validated against the task.")
@click.option("--ms-cxr-version", type=click.Choice(["0.1", "1.1.0"]), default=None,
              help="Alias: 0.1 = --protocol ms-cxr=v0.1-all (default), 1.1.0 = ms-cxr=v1.1.0-test.")
@click.option("--split-scheme", type=click.Choice(["gloria", "mgca"]), default=None,
              help="Alias of --protocol rsna-cls=SCHEME (and rsna-seg): the rebuilt RSNA split (default gloria).")
@click.option("--positive-prompt", multiple=True, metavar="TEXT",
              help="Alias of rsna-*.positive_prompts; several are averaged. Default: 'Findings suggesting pneumonia'.")
@click.option("--negative-prompt", multiple=True, metavar="TEXT",
              help="Alias of rsna-cls.negative_prompts. Default: 'No evidence of pneumonia'.")
@click.option("--radnli-seeds", default=None, metavar="N,N,...", help="Alias of radnli.seeds (default 0,1,2,3,4).")
@click.option("--radnli-max-epochs", type=click.IntRange(min=1), default=None, help="Alias of radnli.max_epochs.")
@click.option("--output", type=click.Path(file_okay=False, path_type=Path), default=Path("results"),
              show_default=True, help="Results go to OUTPUT/<model>/<task>.json (+ run.json, heatmaps/).")
@click.option("--device", default="auto", show_default=True, metavar="auto|cpu|cuda[:N]",
              help="Where the model runs; auto = CUDA when available.")
@click.option("--precision", type=click.Choice(["fp32", "bf16", "fp16"]), default="fp32", show_default=True,
              help="bf16/fp16 = autocast on CUDA (recorded); metrics are always computed in fp32.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None,
              help="Images per forward. Default: 16 on CUDA, 2 on CPU (where larger batches run slower per image).")
@click.option("--num-workers", type=click.IntRange(min=0), default=DEFAULT_WORKERS, show_default=True,
              help="DataLoader workers decoding and preprocessing images (0 = in the main process).")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="Evaluate only the first N samples (recorded; for smoke tests, not for reporting).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the bootstrap and of the phrase-sensitivity control's draws.")
@click.option("--bootstrap", "n_bootstrap", type=click.IntRange(min=0), default=1000, show_default=True,
              help="Bootstrap resamples for the 95% CIs (0 = no CIs).")
@click.option("--save-heatmaps", type=click.IntRange(min=0), default=0, show_default=True, metavar="N",
              help="Write PNG overlays of the first N samples to OUTPUT/<model>/heatmaps/ (ms-cxr, rsna-seg).")
@click.option("--truncate-long-phrases", is_flag=True,
              help="Cut texts longer than the text encoder's limit at a word boundary (recorded) instead of failing.")
@click.option("--keep-text", is_flag=True,
              help="Keep dataset text (phrases, sentences) in the rows for local debugging; the files then say "
                   "contains_dataset_text and the leaderboard refuses them.")
@click.option("--allow-modality", "allow_modalities", multiple=True, metavar="MOD",
              help="Also decode DICOMs of this Modality (repeatable; default: CR and DX only, 'any' = every "
                   "modality). Others are counted skips.")
@click.option("--allow-palette-color", is_flag=True,
              help="Decode PALETTE COLOR DICOMs through their lookup table (default: a counted skip).")
@click.option("--max-skipped", type=click.IntRange(min=0), default=None, metavar="N",
              help="Exit 1 when a task skipped more than N samples (loader rows and images; see the summary).")
@click.option("--strict", is_flag=True, help="Same as --max-skipped 0.")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              envvar="MSXR_EVAL_CACHE", show_envvar=True,
              help="Keep preprocessed images and image/text embeddings here and reuse them (default: no cache).")
@click.option("--no-cache", is_flag=True, help="Ignore --cache-dir / MSXR_EVAL_CACHE: compute everything.")
def evaluate_cmd(model_name: str, model_args: tuple[str, ...], task_names: tuple[str, ...], data_root: Path,
                 splits: tuple[str, ...], protocols: tuple[str, ...], task_args: tuple[str, ...],
                 ms_cxr_version: str | None, split_scheme: str | None, positive_prompt: tuple[str, ...],
                 negative_prompt: tuple[str, ...], radnli_seeds: str | None, radnli_max_epochs: int | None,
                 output: Path, device: str, precision: str, batch_size: int | None, num_workers: int,
                 limit: int | None, seed: int, n_bootstrap: int, save_heatmaps: int, truncate_long_phrases: bool,
                 keep_text: bool, allow_modalities: tuple[str, ...], allow_palette_color: bool,
                 max_skipped: int | None, strict: bool, cache_dir: Path | None, no_cache: bool) -> None:
    """Evaluate a model on MS-CXR grounding, RSNA pneumonia classification/segmentation and RadNLI.

    Prints a per-category table per task and writes one validated results JSON per task (per-sample rows, every
    scoring choice, the run's provenance) and run.json (what the run did).
    """
    from msxr_bench.adapters.registry import parse_model_args
    from msxr_bench.cli.task_args import task_params_from_cli
    from msxr_bench.engine.runtime import RuntimeConfigError
    from msxr_bench.evaluation import EvaluationError, evaluate
    from msxr_bench.preflight import PreflightError

    names = list(dict.fromkeys(task_names))
    try:
        options = parse_model_args(model_args)
        params = task_params_from_cli(names, splits=splits, protocols=protocols, task_args=task_args,
                                      ms_cxr_version=ms_cxr_version, split_scheme=split_scheme,
                                      positive_prompts=positive_prompt, negative_prompts=negative_prompt,
                                      radnli_seeds=radnli_seeds, radnli_max_epochs=radnli_max_epochs)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    printer = Printer(model_name, num_workers, f"{device}, {precision}")
    try:
        results = evaluate(model_name, names, data_root, model_args=options, task_params=params, device=device,
                           output=output, bootstrap=n_bootstrap, seed=seed, hooks=printer.hooks(),
                           precision=precision, batch_size=batch_size, num_workers=num_workers, limit=limit,
                           cache_dir=None if no_cache else cache_dir, save_heatmaps=save_heatmaps,
                           truncate_long_phrases=truncate_long_phrases, keep_text=keep_text,
                           allow_modalities=allow_modalities, allow_palette_color=allow_palette_color,
                           argv=list(sys.argv))
    except PreflightError as exc:
        raise click.ClickException(str(exc)) from None
    except RuntimeConfigError as exc:
        raise click.UsageError(str(exc)) from None
    except EvaluationError as exc:
        raise click.ClickException(f"failed: {', '.join(exc.failures)}") from None
    except KeyboardInterrupt:
        click.echo(f"\ninterrupted: {len(printer.written)} task(s) written; {output / model_name / 'run.json'} "
                   "records which did not finish", err=True)
        sys.exit(130)
    except (ValueError, OSError, RuntimeError) as exc:  # model construction and runtime errors
        raise click.ClickException(f"{type(exc).__name__}: {exc}") from None
    if not results:
        raise click.ClickException("no task ran")
    limit_skips = 0 if strict else max_skipped
    if limit_skips is not None:
        over = {t: r.skipped_total for t, r in results.items() if r.skipped_total > limit_skips}
        if over:
            raise click.ClickException("too many skipped samples (--max-skipped "
                                       f"{limit_skips}): " + ", ".join(f"{t} {n}" for t, n in over.items()))


class Printer:
    """The terminal side of a run: a header per task, its table, timings, skip summary, where it was written."""

    def __init__(self, model: str, num_workers: int, where: str) -> None:
        from msxr_bench.engine import distributed

        launch = distributed.from_environment()
        self.model, self.num_workers, self.written, self.lead = model, num_workers, [], launch.is_main
        self.where = where + (f", rank {launch.rank} of {launch.world_size}" if launch.distributed else "")

    def say(self, text: str, err: bool = False) -> None:
        if self.lead:
            click.echo(text, err=err)

    def hooks(self):
        from msxr_bench.evaluation import Hooks

        return Hooks(on_start=self.start, on_result=self.result, on_skip=self.skip, on_error=self.error)

    def start(self, task: str) -> None:
        self.say(f"== {task} ({self.model}, {self.where})", err=True)

    def result(self, result, path) -> None:
        from msxr_bench.engine import profile

        self.say(str(result))
        self.say(profile.format_summary(result.provenance.wall_time_s, self.num_workers), err=True)
        if path is not None:
            self.written.append(path)
            self.say(f"wrote {path}", err=True)

    def skip(self, task: str, why: str) -> None:
        self.say(f"skipped {task}: {why}", err=True)

    def error(self, task: str, exc: Exception) -> None:
        self.say(f"error in {task}: {type(exc).__name__}: {exc}", err=True)
