"""`msxr-bench export model-index`: measured, validated numbers for a Hugging Face model card."""

from __future__ import annotations

from pathlib import Path

import click

EPILOG = """\\b
Examples:
  msxr-bench export model-index results/biovil                  print the block for every task of a run
  msxr-bench export model-index results/biovil/ms-cxr.json --name myorg/my-model --output model-index.yaml

\\b
Paste the block into the YAML front matter of the model card (README.md). Only validated results files are
exported (their metrics re-aggregated from their rows; no dataset text); `verified` is never set: the hub reserves
it for evaluations it runs itself.
"""


@click.group("export", context_settings={"help_option_names": ["-h", "--help"]})
def export_group() -> None:
    """Export results in other formats."""


@export_group.command("model-index", epilog=EPILOG)
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--name", "model_name", default=None, help="Model name in the block (default: the adapter's name).")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the block here instead of printing it.")
def model_index_cmd(paths: tuple[Path, ...], model_name: str | None, output: Path | None) -> None:
    """The `model-index` YAML block of the results files (or results folders) PATHS."""
    from msxr_bench.export.model_index import ExportError, model_index, to_yaml

    try:
        text = to_yaml(model_index(list(paths), model_name)) + "\n"
    except ExportError as exc:
        raise click.ClickException(str(exc)) from None
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text)
        click.echo(f"wrote {output}")
