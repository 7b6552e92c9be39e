"""`msxr-bench convert-split`: another project's MS-CXR split file -> the id CSV of `--protocol split-file:PATH`."""

from __future__ import annotations

from pathlib import Path

import click

EPILOG = """\b
Examples:
  msxr-bench convert-split medrpg MS_CXR_test.pth medrpg-test.csv
  msxr-bench evaluate --model biovil --task ms-cxr-boxes --protocol split-file:medrpg-test.csv --data-root ~/data
"""


@click.command("convert-split", epilog=EPILOG)
@click.argument("kind", type=click.Choice(["medrpg"]))
@click.argument("source", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.argument("output", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--force", is_flag=True, help="Overwrite OUTPUT if it exists.")
def convert_split_cmd(kind: str, source: Path, output: Path, force: bool) -> None:
    """Write OUTPUT, a CSV with a `dicom_id` column, from SOURCE (medrpg: MedRPG's MS_CXR_{train,val,test}.pth).

    The .pth is read by the restricted unpickler (a file that would run code is refused); its phrases are dataset
    text and are not copied. The protocol records the ids' sha256, never the file's path.
    """
    from msxr_bench.adapters.gloria_unpickle import UnsafeCheckpointError
    from msxr_bench.hashing import sample_ids_sha256
    from msxr_bench.tasks.grounding.medrpg_split import convert_medrpg_split

    if output.exists() and not force:
        raise click.ClickException(f"{output} exists; pass --force to overwrite it")
    try:
        ids = convert_medrpg_split(source, output)
    except UnsafeCheckpointError as exc:
        raise click.ClickException(f"refused: {exc}") from exc
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"wrote {output}: {len(ids)} dicom ids (MedRPG {source.name})")
    click.echo(f"  protocol name when evaluated: split-file:dicom_id-sha256={sample_ids_sha256(ids)[:16]}")
    click.echo(f"  use: --protocol split-file:{output}")
