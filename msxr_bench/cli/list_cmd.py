"""`msxr-bench list`: the models and tasks this installation knows."""

from __future__ import annotations

import click

from msxr_bench.adapters.registry import available_adapters


@click.command("list")
def list_cmd() -> None:
    """List available models (built-in and plugins) and tasks."""
    click.echo("Models:")
    for info in available_adapters():
        click.echo(f"  {info.name:<12} {info.description}  [{info.origin}]")
    try:
        from msxr_bench.tasks import TASKS
    except ImportError:
        TASKS = {}
    click.echo("Tasks:")
    for name, spec in TASKS.items():
        click.echo(f"  {name:<12} {spec.description}  (v{spec.version}, main score: {spec.main_score})")
