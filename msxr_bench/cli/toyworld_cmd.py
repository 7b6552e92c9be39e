"""`msxr-bench toyworld`: write a synthetic toy CXR world in the real datasets' on-disk formats."""

from __future__ import annotations

from pathlib import Path

import click

from msxr_bench.toyworld.scales import SCALES


EPILOG = """\b
Examples:
  msxr-bench toyworld --out /tmp/toy                      the committed fixture's world (tiny, seed 0)
  msxr-bench toyworld --out /tmp/toy-small --scale small  thousands of training pairs (for `train`)
  msxr-bench toyworld --out /tmp/toy-probe --scale probe  1,000 RSNA images (the probe tasks' fractions)
  msxr-bench toyworld --out /tmp/toy --mimic-dicom        + the MIMIC-CXR DICOM release (train --image-format dicom)
  msxr-bench toyworld --out /tmp/toy-temporal --scale temporal   priors for `train --model biovil-t`
  msxr-bench toyworld --out /tmp/toy --rsna-boxes kaggle_stage_2_train_labels.csv.zip
"""


@click.command("toyworld", epilog=EPILOG)
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Data root to write (mimic-cxr-jpg/, ms-cxr/, rsna-pneumonia/, radnli/, mednli/, ...).")
@click.option("--seed", default=0, show_default=True, type=int,
              help="World seed; the same seed and scale give byte-identical files.")
@click.option("--scale", default="tiny", show_default=True, type=click.Choice(list(SCALES)),
              help="tiny = the committed fixture; small = thousands of training pairs; full = larger; probe = tiny + "
                   "1,000 RSNA images for the probe tasks; temporal = training subjects with prior studies "
                   "(BioViL-T's temporal recipe).")
@click.option("--rsna-boxes", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="A real stage_2_train_labels.csv(.zip): draw RSNA opacities at real box positions.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Processes that draw images (default: 1 for tiny, else up to 4 CPUs); files do not depend on it.")
@click.option("--mimic-dicom", is_flag=True,
              help="Also write the MIMIC-CXR DICOM release (mimic-cxr/: train and validate images, 12-bit DICOMs).")
def toyworld_cmd(out: Path, seed: int, scale: str, rsna_boxes: Path | None, workers: int | None,
                 mimic_dicom: bool) -> None:
    """Generate the toy CXR world (images, reports, MS-CXR, MS-CXR-T, RSNA, RadNLI, MedNLI) under OUT."""
    from msxr_bench.toyworld import generate

    if out.exists() and any(out.iterdir()):
        click.echo(f"note: {out} is not empty; files of the world are overwritten, other files are left as they are",
                   err=True)
    summary = generate(out, seed=seed, scale=scale, rsna_boxes=rsna_boxes, workers=workers, mimic_dicom=mimic_dicom)
    c = summary["counts"]
    m = c["mscxr"]
    click.echo(f"toy world (seed {seed}, scale {scale}) written to {out} in {summary['seconds']} s")
    click.echo(f"  MIMIC-CXR: {c['mimic_images']} images, studies {c['mimic_studies']}")
    click.echo(f"  MS-CXR:    {m['pairs']} phrase pairs, {m['box_rows']} boxes, {m['images']} images "
               f"({m['image_records']} image records)")
    click.echo(f"  RSNA:      {c['rsna_images']} images ({c['rsna_positive']} positive)")
    if mimic_dicom:
        click.echo(f"  MIMIC-CXR DICOM release: {c['mimic_dicom_images']} images (train + validate)")
    click.echo(f"  RadNLI:    {c['radnli_dev']} dev + {c['radnli_test']} test; "
               f"MedNLI: {c['mednli_train']}/{c['mednli_dev']}/{c['mednli_test']}")
    t = summary["mscxrt"]
    click.echo(f"  MS-CXR-T:  {t['pairs']} image pairs ({t['labels']} labels), {t['sentence_pairs']} sentence pairs; "
               f"{t['training_subjects']} training subjects with a prior study")
