"""`msxr-bench convert-gloria`: the released GLoRIA `.ckpt` -> a safetensors file the gloria adapter loads."""

from __future__ import annotations

from pathlib import Path

import click


EPILOG = """\b
Examples:
  msxr-bench convert-gloria chexpert_resnet50.ckpt gloria.safetensors
  msxr-bench evaluate --model gloria --model-arg weights=gloria.safetensors --task rsna-cls --data-root ~/data
"""


@click.command("convert-gloria", epilog=EPILOG)
@click.argument("ckpt", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.argument("output", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--force", is_flag=True, help="Overwrite OUTPUT if it exists.")
def convert_gloria_cmd(ckpt: Path, output: Path, force: bool) -> None:
    """Convert CKPT (e.g. chexpert_resnet50.ckpt from the GLoRIA authors) into OUTPUT (.safetensors).

    The checkpoint is read by a restricted unpickler: no PyTorch Lightning or OmegaConf needed, and a file
    that would run code is refused. Then: msxr-bench evaluate --model gloria --model-arg weights=OUTPUT
    """
    from msxr_bench.adapters.gloria_checkpoint import convert_gloria_checkpoint
    from msxr_bench.adapters.gloria_unpickle import UnsafeCheckpointError

    if output.exists() and not force:
        raise click.ClickException(f"{output} exists; pass --force to overwrite it")
    if output.suffix != ".safetensors":
        raise click.ClickException(f"OUTPUT must end in .safetensors, got {output.name}")
    try:
        report = convert_gloria_checkpoint(ckpt, output)
    except UnsafeCheckpointError as exc:
        raise click.ClickException(f"refused: {exc}") from exc
    except (ValueError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"wrote {report.output}: {report.n_tensors} tensors"
               f"{', dropped ' + ', '.join(report.dropped) if report.dropped else ''}")
    click.echo(f"  source sha256 {report.source_sha256} (PyTorch Lightning {report.lightning_version})")
    click.echo(f"  use: --model gloria --model-arg weights={report.output}")
