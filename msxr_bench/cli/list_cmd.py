"""`msxr-bench list`: the models (with their options and capabilities), tasks (with their parameters) and
protocols this installation knows. Torch-free: it reads declarations only (a plugin's options need its import)."""

from __future__ import annotations

import click

from msxr_bench.adapters.registry import available_adapters, option_schema
from msxr_bench.tasks.catalog import TASKS

EPILOG = """\b
Examples:
  msxr-bench list                     models, tasks and protocols
  msxr-bench list --model biovil      BioViL's --model-arg options, their types and defaults
  msxr-bench list --task rsna-cls     the task's parameters (--task-arg rsna-cls.KEY=VALUE) and protocols
  msxr-bench list --protocols         every protocol: release, split rule, splits, where it comes from
"""


def _type(annotation: object) -> str:
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


@click.command("list", epilog=EPILOG)
@click.option("--model", "model_name", default=None, metavar="NAME", help="Show one model's options.")
@click.option("--task", "task_name", default=None, type=click.Choice(sorted(TASKS)), help="Show one task in full.")
@click.option("--protocols", is_flag=True, help="Show every task's protocols.")
def list_cmd(model_name: str | None, task_name: str | None, protocols: bool) -> None:
    """List available models (built-in and plugins), tasks and protocols."""
    if model_name is not None:
        _model(model_name)
        return
    if task_name is not None:
        _task(task_name)
        return
    if protocols:
        for spec in TASKS.values():
            _protocols(spec)
        return
    click.echo("Models:")
    for info in available_adapters():
        caps = f" ({', '.join(info.capabilities)})" if info.capabilities else ""
        click.echo(f"  {info.name:<12} {info.description}{caps}  [{info.origin}]")
    click.echo("Tasks:")
    for name, spec in TASKS.items():
        click.echo(f"  {name:<12} {spec.description}  (v{spec.version}, main score: {spec.main_score}; "
                   f"protocols: {', '.join(p.name for p in spec.protocols)})")
    click.echo("More: msxr-bench list --model NAME | --task NAME | --protocols")


def _model(name: str) -> None:
    infos = {i.name: i for i in available_adapters()}
    if name not in infos:
        raise click.ClickException(f"unknown model {name!r}; models: {', '.join(infos)}")
    info = infos[name]
    click.echo(f"{name}: {info.description}  [{info.origin}]")
    if info.capabilities:
        click.echo(f"  capabilities: {', '.join(info.capabilities)}")
    schema = info.options if info.options is not None else option_schema(name)
    if schema is None:
        click.echo("  options: not declared (the adapter parses its own)")
        return
    click.echo("  options (--model-arg KEY=VALUE):")
    for line in schema.describe():
        click.echo(f"    {line}")


def _task(name: str) -> None:
    spec = TASKS[name]
    click.echo(f"{name} v{spec.version}: {spec.description}")
    needs = ", ".join(spec.requires) or " or ".join("+".join(o) for o in spec.requires_any) or "nothing"
    click.echo(f"  main score: {spec.main_score}; needs: {needs}")
    click.echo(f"  parameters (--task-arg {name}.KEY=VALUE):")
    for field, info in spec.params.model_fields.items():
        click.echo(f"    {field}: {_type(info.annotation)} = {info.default!r}")
    _protocols(spec)


def _protocols(spec) -> None:
    click.echo(f"  {spec.name} protocols (--protocol {spec.name}=NAME; first = default):")
    for p in spec.protocols:
        ranked = ", leaderboard track" if p.ranked else ""
        name = f"{p.name}:{p.parameter}" if p.parameter else p.name
        click.echo(f"    {name}: {p.description} [release {p.dataset_version}; splits {', '.join(p.splits)}, "
                   f"default {p.default_split}{ranked}]")
        if p.origin:
            click.echo(f"      origin: {p.origin}")
