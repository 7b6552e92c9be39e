"""`msxr-bench train`: pretrain BioViL, BioViL-T (current + prior), BioViL-L, a text-model baseline, GLoRIA, ConVIRT,
SimCLR (images only) or CXR-BERT (reports only) on MIMIC-CXR, or the box head biovil-boxes on MS-CXR (the library:
`msxr_bench.training.loop.train`). Single process, or many with `torchrun --nproc-per-node N -m msxr_bench train`."""

from __future__ import annotations

import logging
from pathlib import Path

import click

# the names of training/recipes/__init__.py's RECIPES (spelled out: --help must not import torch)
TRAINABLE = ("biovil", "gloria", "convirt", "biovil-l", "biovil-baseline", "simclr", "cxr-bert", "biovil-boxes",
             "biovil-t")

EPILOG = """\b
Examples:
  msxr-bench toyworld --out toy --scale small
  msxr-bench train --model biovil --config tiny --data-root toy --output runs/biovil-tiny
  msxr-bench train --model biovil-t --config tiny --data-root toy --output runs/biovil-t-tiny
  msxr-bench evaluate --model biovil --model-arg checkpoint=runs/biovil-tiny/checkpoint --task ms-cxr --data-root toy
  torchrun --nproc-per-node 8 -m msxr_bench train --model gloria --data-root ~/data --output runs/gloria \\
      --image-init resnet50-11ad3fa6.pth
  msxr-bench train --model gloria --data-root ~/data --output runs/gloria --resume
  msxr-bench train --model cxr-bert --config tiny --data-root toy --output runs/cxr-bert
  msxr-bench train --model cxr-bert --config tiny --data-root toy --output runs/cxr-bert-t \
      --batching progression-contrast --temperature 0.1
  msxr-bench train --model biovil-t --config tiny --data-root toy --output runs/biovil-t-lit \
      --text-model runs/cxr-bert-t/checkpoint --lock-text
  msxr-bench train --model biovil --config tiny --data-root toy --output runs/biovil \
      --text-model runs/cxr-bert/checkpoint --image-init runs/simclr/checkpoint
  msxr-bench train --model biovil-baseline --data-root ~/data --output runs/base --text-model DIR_OF_CLINICALBERT
  msxr-bench train --model biovil --data-root ~/data --output runs/biovil-dicom --image-format dicom
  msxr-bench train --model biovil-boxes --image-init fixtures/models/tiny-biovil --data-root toy --output runs/boxes

\b
Configs: paper = the published recipe (ResNet-50, pretrained BERT from the hub or --text-model DIR, ImageNet
trunk from --image-init); tiny = small models with a vocabulary of the corpus that learn the toy world on a CPU
in minutes. OUTPUT holds log.jsonl, run.json, train_state.pt (for --resume) and checkpoint/ (the adapter's
format). --batch-size is per process.
"""


@click.command("train", epilog=EPILOG)
@click.option("--model", "model_name", required=True, type=click.Choice(TRAINABLE),
              help="Model to train (biovil-l: + GLoRIA's local loss; biovil-baseline: any BERT via --text-model, "
                   "no MLM; simclr: images only; cxr-bert: reports only; biovil-boxes: a box head on a frozen "
                   "BioViL, MS-CXR v1.1.0 train boxes; biovil-t: current + prior image from the metadata's "
                   "previous study).")
@click.option("--data-root", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder with mimic-cxr-jpg/ and mimic-cxr-reports/ (official split and metadata tables).")
@click.option("--output", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Run folder (logs, resumable state, checkpoint/).")
@click.option("--config", "config_name", type=click.Choice(["tiny", "paper"]), default="paper", show_default=True,
              help="Model size and recipe.")
@click.option("--max-steps", type=click.IntRange(min=1), default=None,
              help="Optimisation steps (default: the recipe's; paper configs count epochs).")
@click.option("--batch-size", type=click.IntRange(min=2), default=None, help="Pairs per process and step.")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=None, help="Peak learning rate.")
@click.option("--resume", is_flag=True, help="Continue the run in OUTPUT (model, optimiser, step, RNG).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed of weights, sampling and augmentation.")
@click.option("--device", default="auto", show_default=True, metavar="auto|cpu|cuda",
              help="auto = this process's GPU when CUDA is available.")
@click.option("--precision", type=click.Choice(["auto", "fp32", "bf16", "fp16"]), default="auto", show_default=True,
              help="auto = bf16 autocast on CUDA (fp16 + loss scaling without bf16), fp32 on CPU.")
@click.option("--num-workers", type=click.IntRange(min=0), default=None,
              help="DataLoader workers decoding images (default: 0 on CPU, 4 on CUDA).")
@click.option("--text-model", default=None, metavar="DIR|HUB_ID",
              help="Paper config: the pretrained BERT to start from (default per model).")
@click.option("--image-init", type=click.Path(exists=True), default=None,
              help="ImageNet ResNet weights (torchvision state_dict file: the trunk), or a SimCLR run's checkpoint "
                   "directory (trunk + projector; tiny configs too); biovil-boxes: the BioViL checkpoint directory "
                   "it trains on.")
@click.option("--image-format", type=click.Choice(["jpg", "dicom"]), default="jpg", show_default=True,
              help="Images of MIMIC-CXR-JPG, or of the MIMIC-CXR DICOM release (DATA_ROOT/mimic-cxr/; same split).")
@click.option("--max-train-pairs", type=click.IntRange(min=2), default=None,
              help="Use only the first N training pairs (smoke tests).")
@click.option("--batching", type=click.Choice(["random", "progression-contrast"]), default=None,
              help="random: shuffled batches; progression-contrast: texts that state one finding's different changes "
                   "share a batch (a caption; cxr-bert: the impression). Default: the recipe's (progression-contrast "
                   "for biovil-t tiny).")
@click.option("--temperature", type=click.FloatRange(min=0, min_open=True), default=None,
              help="The recipe's contrastive temperature (cxr-bert: RSM's tau; default: the recipe's).")
@click.option("--lock-text", is_flag=True,
              help="LiT: keep the text tower as --text-model gives it; only the image side trains.")
@click.option("--stop-after", type=click.IntRange(min=1), default=None, metavar="STEP",
              help="Save and stop at this step, keeping the schedule of --max-steps (continue with --resume).")
@click.option("--no-progress", is_flag=True, help="No progress bar (logs still go to OUTPUT/log.jsonl).")
def train_cmd(model_name: str, data_root: Path, output: Path, config_name: str, max_steps: int | None,
              batch_size: int | None, lr: float | None, resume: bool, seed: int, device: str, precision: str,
              num_workers: int | None, text_model: str | None, image_init: str | None, image_format: str,
              max_train_pairs: int | None, batching: str | None, temperature: float | None,
              lock_text: bool, stop_after: int | None, no_progress: bool) -> None:
    """Train a model of the toolkit on MIMIC-CXR (or the toy world) and write its adapter's checkpoint."""
    from msxr_bench.training.loop import TrainOptions, train

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    opts = TrainOptions(model=model_name, data_root=data_root, output=output, config=config_name,
                        max_steps=max_steps, batch_size=batch_size, lr=lr, resume=resume, seed=seed, device=device,
                        precision=precision, num_workers=num_workers, text_model=text_model, image_init=image_init,
                        image_format=image_format, max_train_pairs=max_train_pairs, batching=batching,
                        temperature=temperature, lock_text=lock_text, stop_after=stop_after,
                        progress=not no_progress)
    try:
        checkpoint = train(opts)
    except (FileExistsError, FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    adapter = {"biovil-baseline": "biovil"}.get(model_name, model_name)
    option = "text_model" if model_name == "cxr-bert" else "checkpoint"
    task = {"simclr": "rsna-cls-probe --task-arg rsna-cls-probe.probe=classic", "cxr-bert": "text-intrinsics"}.get(
        model_name, "ms-cxr")
    click.echo(f"checkpoint: {checkpoint}\n  evaluate: msxr-bench evaluate --model {adapter} "
               f"--model-arg {option}={checkpoint} --task {task} --data-root {data_root}", err=True)
