"""`msxr-bench rsna-split`: write the GLoRIA or MGCA RSNA Pneumonia split as id lists."""

from __future__ import annotations

from pathlib import Path

import click


EPILOG = """\b
Examples:
  msxr-bench rsna-split --labels ~/data/rsna-pneumonia/stage_2_train_labels.csv --output splits/gloria
  msxr-bench rsna-split --labels kaggle_stage_2_train_labels.csv.zip --scheme mgca --output splits/mgca
"""


@click.command("rsna-split", epilog=EPILOG)
@click.option("--labels", "labels", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="stage_2_train_labels.csv (or the .csv.zip torchxrayvision ships).")
@click.option("--scheme", type=click.Choice(["gloria", "mgca"]), default="gloria", show_default=True,
              help="gloria: 70/15/15 (also MGCA classification); mgca: MGCA detection/segmentation split.")
@click.option("--output", "output", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="Folder for train.txt, val.txt, test.txt (one patientId per line, in split order).")
def rsna_split_cmd(labels: Path, scheme: str, output: Path) -> None:
    """Rebuild an RSNA Pneumonia split deterministically from the Kaggle labels file."""
    from msxr_bench.data.rsna import load_rsna, rsna_patient_ids
    from msxr_bench.data.splits import KNOWN_SPLITS, SPLIT_NAMES, matches_known_split, rsna_split
    from msxr_bench.hashing import ordered_ids_sha256
    from msxr_bench.data.types import DatasetFormatError

    try:
        ids = rsna_patient_ids(labels)
        samples, skips = load_rsna(labels, labels.parent, check_images=False)
        split = rsna_split(ids, scheme)
    except (DatasetFormatError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    positive = {s.patient_id for s in samples if s.label == 1}
    output.mkdir(parents=True, exist_ok=True)
    click.echo(f"RSNA {scheme} split of {len(ids)} images from {labels}")
    for name in SPLIT_NAMES:
        part = split[name]
        (output / f"{name}.txt").write_text("".join(f"{pid}\n" for pid in part))
        n_pos = sum(pid in positive for pid in part)
        click.echo(f"  {name:<5} {len(part):>6} images, {n_pos:>5} positive  sha256 {ordered_ids_sha256(part)}")
    if skips.total:
        click.echo(f"  note: {skips.summary()} (their ids are still split; labels unknown)")
    if matches_known_split(split, scheme):
        click.echo(f"  matches the published {scheme} split of the Kaggle stage-2 labels (checksums)")
    elif scheme in KNOWN_SPLITS:
        click.echo(f"  differs from the published {scheme} split: this labels file is not the Kaggle stage-2 file")
    click.echo(f"wrote {', '.join(f'{n}.txt' for n in SPLIT_NAMES)} to {output}")
