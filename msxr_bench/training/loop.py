"""The one training loop of every recipe (BioViL, BioViL-L, the text-model baselines, GLoRIA, ConVIRT, SimCLR,
CXR-BERT, the box head): the recipe's training sets (frontal MIMIC-CXR pairs of the official `train` split, JPG or
DICOM images, validation loss on `validate`; MS-CXR v1.1.0 train/val for the box head), its captions, views,
optimiser and loss (image-only and text-only recipes through the recipe's hooks: `select_pairs`, `augment`,
`validation_view`, `uses_images`); AMP on CUDA,
gradient clipping, tqdm + `OUTPUT/log.jsonl`, resumable state, and the adapter's checkpoint directory in
`OUTPUT/checkpoint/` (load it with `--model-arg checkpoint=OUTPUT/checkpoint`).

Under `torchrun` every process trains a `DistributedSampler` shard with DDP (gradients averaged; contrastive
negatives are the process's own batch); only rank 0 writes files. `--batch-size` is per process.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm import tqdm

from msxr_bench.engine import distributed
from msxr_bench.training.data import EpochBatchSampler, PairDataset
from msxr_bench.training.optim import make_optimizer, make_scheduler, steps_per_batch
from msxr_bench.training.progression_batches import ProgressionBatchSampler
from msxr_bench.training.recipes import get_recipe
from msxr_bench.training.recipes.base import BATCHINGS, Recipe
from msxr_bench.training.run_files import RunFiles, batch_to, training_data_of
from msxr_bench.training.train_state import (
    capture_rng, check_compatible, load_train_state, parameter_fingerprint, restore_rng,
)
from msxr_bench.training.validation import validation_loss

log = logging.getLogger(__name__)


@dataclass
class TrainOptions:
    model: str
    data_root: Path
    output: Path
    config: str = "paper"
    max_steps: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    resume: bool = False
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"  # auto = bf16 (fp16 if unsupported) on CUDA, fp32 on CPU
    num_workers: int | None = None  # None: 0 on CPU, 4 on CUDA
    text_model: str | None = None
    image_init: str | None = None
    image_format: str = "jpg"  # "jpg" (MIMIC-CXR-JPG) or "dicom" (the MIMIC-CXR DICOM release, same split tables)
    batching: str | None = None  # None: the recipe's (RecipeSettings.batching)
    temperature: float | None = None  # None: the recipe's; only recipes with accepts_temperature
    lock_text: bool = False  # LiT: keep the text tower (--text-model) as it starts
    max_train_pairs: int | None = None  # first N training pairs only (smoke tests)
    stop_after: int | None = None  # save and stop at this global step (time-sliced jobs; --resume goes on)
    progress: bool = True


def _amp(device: torch.device, precision: str) -> torch.dtype | None:
    if precision not in ("auto", "fp32", "bf16", "fp16"):
        raise ValueError(f"precision must be auto, fp32, bf16 or fp16, got {precision!r}")
    if device.type != "cuda" or precision == "fp32":
        if precision in ("bf16", "fp16") and device.type != "cuda":
            raise ValueError(f"--precision {precision} needs CUDA (AMP runs on GPUs only); use fp32 or auto on CPU")
        return None
    if precision == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if precision == "bf16" else torch.float16


def _generator(seed: int, counter: int, stream: int) -> torch.Generator:
    """A generator of (seed, step or epoch, stream): no state to carry across a resume."""
    return torch.Generator().manual_seed(int(np.random.SeedSequence([seed, counter, stream]).generate_state(1)[0]))


def _batch_sampler(recipe: Recipe, train_set: PairDataset, epoch: int, seed: int, ctx: distributed.Process,
                   skip: int) -> EpochBatchSampler:
    """The epoch's batches as the recipe's `batching` setting composes them (grouping the text the recipe names)."""
    s = recipe.settings
    if s.batching == "progression-contrast":
        return ProgressionBatchSampler(len(train_set), s.batch_size, epoch, seed, recipe.batching_text(train_set),
                                       ctx.rank, ctx.world_size, skip_batches=skip)
    return EpochBatchSampler(len(train_set), s.batch_size, epoch, seed, ctx.rank, ctx.world_size, skip_batches=skip)


def lock_text_tower(module: torch.nn.Module, model: str) -> None:
    """LiT (Zhai et al., 2022): the text tower keeps its starting weights; only the image side trains."""
    text = getattr(module, "text_model", None)
    if text is None or not hasattr(module, "image_model"):
        raise ValueError(f"--lock-text: {model} has no text tower beside an image model to lock")
    for p in text.parameters():
        p.requires_grad_(False)


def train(opts: TrainOptions) -> Path:
    """Train `opts.model` and return the adapter checkpoint directory (OUTPUT/checkpoint)."""
    ctx = distributed.init_process(opts.device)
    try:
        return _train(opts, ctx)
    finally:
        distributed.stop()


def _train(opts: TrainOptions, ctx: distributed.Process) -> Path:
    recipe = get_recipe(opts.model, opts.config, opts.text_model, opts.image_init)
    s = recipe.settings
    if opts.batching not in (None, *BATCHINGS):
        raise ValueError(f"batching must be one of {BATCHINGS}, got {opts.batching!r}")
    if opts.temperature is not None and not recipe.accepts_temperature:
        raise ValueError(f"{opts.model} has no contrastive temperature to set (--temperature)")
    if opts.lock_text and opts.config == "tiny" and not opts.text_model:
        raise ValueError("--lock-text needs --text-model with the tiny config: its text tower starts random")
    if opts.temperature is not None and opts.temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {opts.temperature}")
    s = replace(s, batch_size=opts.batch_size or s.batch_size, lr=opts.lr or s.lr,
                max_steps=opts.max_steps or s.max_steps, batching=opts.batching or s.batching,
                temperature=opts.temperature if opts.temperature is not None else s.temperature,
                lock_text=opts.lock_text or s.lock_text)
    recipe.settings = s  # what the recipe builds, augments and records is what this run does
    files = RunFiles(Path(opts.output), ctx.is_main)
    files.prepare(opts.resume)
    distributed.barrier()

    train_set, val_set, skips = recipe.training_sets(opts.data_root, opts.seed, opts.max_train_pairs,
                                                     image_format=opts.image_format)
    for report in skips:
        if ctx.is_main and report.total:
            log.warning("training pairs skipped: %s", report.summary())

    if not opts.resume and ctx.is_main:
        recipe.make_tokenizer(train_set.corpus(), files.tokenizer_dir)
    distributed.barrier()
    tokenizer = recipe.load_tokenizer(files.tokenizer_dir)

    torch.manual_seed(opts.seed)  # identical initial weights on every process
    module = recipe.build(tokenizer).to(ctx.device)
    if s.lock_text:
        lock_text_tower(module, opts.model)
    optimizer = make_optimizer(module, s)
    steps_per_epoch = EpochBatchSampler.batches_per_epoch(len(train_set), s.batch_size, ctx.world_size)
    if steps_per_epoch == 0:
        raise ValueError(f"{len(train_set)} training pairs cannot fill one batch of {s.batch_size} on each of "
                         f"{ctx.world_size} process(es): lower --batch-size")
    total = s.max_steps or s.epochs * steps_per_epoch
    scheduler = make_scheduler(optimizer, s, total)
    amp_dtype = _amp(ctx.device, opts.precision)
    scaler = torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 else None
    run = {"model": opts.model, "config": opts.config, "world_size": ctx.world_size, "seed": opts.seed,
           "image_format": opts.image_format,
           "batch_size": s.batch_size, "max_steps": total, "data_root": str(opts.data_root),
           "train_pairs": len(train_set), "validate_pairs": len(val_set) if val_set else 0,
           "precision": str(amp_dtype or "fp32"), "device": str(ctx.device), "recipe": recipe.describe()}
    run["recipe"]["settings"] = asdict(s)

    step = 0
    if opts.resume:
        state = load_train_state(files.root)
        check_compatible(state, run, files.state_path)
        module.load_state_dict(state["module"])
        optimizer.load_state_dict(state["optimizer"])
        if state["scheduler"] is not None:
            scheduler.load_state_dict(state["scheduler"])
        if scaler is not None and state["scaler"] is not None:
            scaler.load_state_dict(state["scaler"])
        step = int(state["step"])
        restore_rng(state["rng"][ctx.rank])
        files.truncate_log(step)
    else:
        torch.manual_seed(opts.seed + 1_000_003 * ctx.rank)  # dropout differs per process, as it should
        files.write_run(run)

    model = module
    if ctx.distributed:
        model = DistributedDataParallel(module, device_ids=[ctx.device] if ctx.device.type == "cuda" else None)
    collate = partial(recipe.collate, tokenizer=tokenizer, seed=opts.seed)
    training_data = training_data_of(opts.data_root)
    description = f"{opts.model} ({opts.config} config) trained with msxr-bench on {', '.join(training_data)}"

    def save() -> None:
        distributed.sync_buffers(module)
        rngs = distributed.gather(capture_rng())
        fingerprints = distributed.gather(parameter_fingerprint(module))
        files.log({"step": step, "event": "checkpoint", "replica_fingerprints": fingerprints})
        if len(set(fingerprints)) > 1:
            raise RuntimeError(f"step {step}: the {ctx.world_size} DDP replicas hold different weights "
                               f"({fingerprints}); the run is broken")
        if ctx.is_main:
            files.save(step, module, optimizer, scheduler, scaler, rngs, run,
                       lambda d: recipe.export(module, tokenizer, d, training_data, description))
        distributed.barrier()

    progress = tqdm(total=total, initial=step, desc=f"train {opts.model}", unit="step",
                    disable=not (ctx.is_main and opts.progress))
    val_every = s.val_every or steps_per_epoch
    save_every = s.save_every or steps_per_epoch
    workers = opts.num_workers if opts.num_workers is not None else (4 if ctx.device.type == "cuda" else 0)
    cpu_start = time.process_time()
    stop = min(total, opts.stop_after or total)
    while step < stop:
        epoch, skip = divmod(step, steps_per_epoch)
        loader = DataLoader(train_set, batch_sampler=_batch_sampler(recipe, train_set, epoch, opts.seed, ctx, skip),
            collate_fn=collate, num_workers=workers,
            generator=_generator(opts.seed, epoch, 0))  # its own seed draw: the global RNG stays untouched
        tick = time.perf_counter()
        for batch in loader:
            module.train()
            batch = batch_to(batch, ctx.device)
            recipe.augment(batch, lambda k: _generator(opts.seed, step, 1 + ctx.rank + 1000 * k))
            with torch.autocast(ctx.device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                losses = model(batch)
            loss = losses["loss"]
            if not torch.isfinite(loss):
                raise FloatingPointError(f"step {step + 1}: the loss is {loss.item()} (lower --lr?)")
            optimizer.zero_grad(set_to_none=True)
            (scaler.scale(loss) if scaler else loss).backward()
            if scaler:
                scaler.unscale_(optimizer)
            trainable = [p for p in module.parameters() if p.grad is not None]
            grad_norm = torch.nn.utils.clip_grad_norm_(trainable, s.grad_clip or float("inf"))
            if scaler:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            lr = optimizer.param_groups[0]["lr"]
            if steps_per_batch(scheduler):
                scheduler.step()
            step += 1
            record = distributed.all_mean({k: float(v.detach()) for k, v in losses.items()}, ctx.device)
            now = time.perf_counter()
            files.log({"step": step, "epoch": epoch, **record, "lr": lr, "grad_norm": float(grad_norm),
                       "pairs_per_s": round(s.batch_size * ctx.world_size / max(now - tick, 1e-9), 1),
                       "cpu_s": round(time.process_time() - cpu_start, 1)})
            tick = now
            progress.update(1)
            progress.set_postfix(loss=f"{record['loss']:.3f}")
            if val_set is not None and (step % val_every == 0 or step == total):
                distributed.sync_buffers(module)
                val = validation_loss(module, val_set, collate, s, ctx, recipe.validation_view)
                files.log({"step": step, "split": "validate", **val})
                if not steps_per_batch(scheduler) and "loss" in val:
                    scheduler.step(val["loss"])
            if step % save_every == 0 or step in (total, stop):
                save()
            if step >= stop:
                break
    progress.close()
    if ctx.is_main:
        log.info("checkpoint: %s", files.checkpoint_dir)
    return files.checkpoint_dir
