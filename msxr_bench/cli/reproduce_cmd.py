"""`msxr-bench reproduce PAPER`: run every cell of a paper's tables that the data and models allow, and write the
report (paper vs measured, verdict per cell). Thin: the work is in `msxr_bench.reproduce`."""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path

import click

EPILOG = """\b
Examples:
  msxr-bench reproduce --list
  msxr-bench reproduce boecking2022 --data-root ~/data --model biovil --plan
  msxr-bench reproduce boecking2022 --data-root ~/data --model biovil --model gloria \\
      --model-arg gloria:weights=gloria.safetensors --output runs/repro
  msxr-bench reproduce boecking2022 --data-root ~/data --model 'Baseline / ClinicalBERT / Global=biovil' \\
      --model-arg biovil:checkpoint=runs/baseline/checkpoint

\b
--model ADAPTER plays every method of the paper the recipe gives to that adapter (e.g. biovil: BioViL);
--model 'METHOD=ADAPTER' one method (its label as the report prints it). Options per model: --model-arg
MODEL:KEY=VALUE. Each distinct evaluation runs once (results JSONs kept under OUTPUT/runs/, the eval cache
under OUTPUT/cache/ unless --cache-dir). Cells whose data or model is missing are listed with the reason.
"""


@click.command("reproduce", epilog=EPILOG)
@click.argument("paper", required=False)
@click.option("--data-root", type=click.Path(file_okay=False, path_type=Path), help="The datasets (as for evaluate).")
@click.option("--model", "models", multiple=True, metavar="ADAPTER|METHOD=ADAPTER", help="A model to run (repeatable).")
@click.option("--model-arg", "model_args", multiple=True, metavar="MODEL:KEY=VALUE", help="A model's option.")
@click.option("--task-arg", "task_args", multiple=True, metavar="TASK.KEY=VALUE",
              help="Override a task parameter in every cell of that task (e.g. radnli.seeds=[0] for a smoke run).")
@click.option("--output", type=click.Path(file_okay=False, path_type=Path), default=Path("reproduction"),
              show_default=True, help="Report, figure and the runs' results.")
@click.option("--plan", "plan_only", is_flag=True, help="Print what would run and an estimate of its time; run nothing.")
@click.option("--list", "list_only", is_flag=True, help="List the recipes.")
@click.option("--device", default="auto", show_default=True)
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Samples per run (smoke tests only).")
@click.option("--bootstrap", type=click.IntRange(min=0), default=1000, show_default=True)
@click.option("--num-workers", type=click.IntRange(min=0), default=2, show_default=True)
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=None)
def reproduce_cmd(paper: str | None, data_root: Path | None, models: tuple[str, ...], model_args: tuple[str, ...],
                  task_args: tuple[str, ...], output: Path, plan_only: bool, list_only: bool, device: str,
                  limit: int | None, bootstrap: int, num_workers: int, cache_dir: Path | None) -> None:
    """Reproduce a paper's tables (PAPER: a recipe name, see --list)."""
    from msxr_bench.cli.task_args import task_params_from_cli
    from msxr_bench.reproduce.plan import assign_models, make_plan
    from msxr_bench.reproduce.recipe import RecipeError, load_recipe, recipe_names
    from msxr_bench.tasks.catalog import TASKS

    if list_only:
        for name in recipe_names():
            r = load_recipe(name)
            runnable = sum(len(r.rows_of(c)) for c in r.cell if c.task in TASKS)
            click.echo(f"{name:<14} {r.title}: {len(r.values())} published values, {len(r.cell)} cells "
                       f"({runnable} values on tasks of this harness), {sum(len([v for v in r.values() if u.rows.matches(v)]) for u in r.unmapped)} not reproducible (reasons given)")
        return
    if paper is None or data_root is None or not models:
        raise click.UsageError("give PAPER, --data-root and at least one --model (or --list)")
    try:
        recipe = load_recipe(paper)
        chosen = assign_models(recipe, models, model_args)
        overrides = task_params_from_cli(sorted(TASKS), task_args=task_args)
    except (RecipeError, ValueError) as exc:
        raise click.UsageError(str(exc)) from None
    plan = make_plan(recipe, chosen, data_root, overrides)
    _print_plan(plan)
    if plan_only:
        return
    _run(recipe, plan, data_root, output, device=device, limit=limit, bootstrap=bootstrap, num_workers=num_workers,
         cache_dir=cache_dir or output / "cache")


def _print_plan(plan) -> None:
    click.echo(f"{len(plan.runs)} evaluation(s) to run, about {plan.estimate_seconds() / 60:.0f} min on 2 CPU cores "
               "(a rough estimate from the sample counts; a GPU is ~20x faster):")
    for run in plan.runs:
        cells = ", ".join(dict.fromkeys(c.id for c, _ in run.cells))
        params = ", ".join(f"{k}={v}" for k, v in run.params.items())
        click.echo(f"  {run.task} [{params}] with {run.model.label}: {run.n_samples} samples -> {cells}")
    reasons: dict[str, int] = {}
    for c in plan.not_run:
        reasons[c.reason] = reasons.get(c.reason, 0) + 1
    if reasons:
        click.echo(f"{len(plan.not_run)} published value(s) will not run:")
        for why, n in sorted(reasons.items(), key=lambda kv: -kv[1]):
            click.echo(f"  {n:>4}  {why}")


def _run(recipe, plan, data_root: Path, output: Path, **options) -> None:
    from msxr_bench.reproduce.report import summary, write_figure, write_html, write_markdown
    from msxr_bench.reproduce.runner import execute

    output.mkdir(parents=True, exist_ok=True)
    outcome = execute(plan, recipe.rows_of, data_root, output, progress=sys.stderr.isatty(), **options)
    version = __import__("importlib.metadata").metadata.version("msxr-bench")
    header = [f"msxr-bench {version}, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; data root "
              f"{data_root.name}; models: {', '.join(sorted({r.model.label for r in plan.runs})) or 'none'}.",
              f"Results JSONs of every run: {output / 'runs'}."]
    if (data_root / "toyworld.json").is_file():
        header.append("The data root is the msxr-bench toy world (synthetic data in the real formats): the verdicts show "
                      "that every cell is mapped and run, not how the models compare with the paper.")
    write_markdown(recipe, outcome.comparisons, output / "report.md", header)
    write_figure(outcome.comparisons, output / "report.png", recipe.title)
    write_html(recipe, outcome.comparisons, output / "report.html", header)
    counts = summary(outcome.comparisons)
    click.echo("verdicts: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    click.echo(f"wrote {output / 'report.md'}, {output / 'report.html'}, {output / 'report.png'}")
