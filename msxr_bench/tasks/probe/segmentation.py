"""`rsna-seg-probe`: segmentation probing on RSNA Pneumonia (BioViL paper Table 7).

The training images' grids are streamed once into a temporary file (`seg_store.py`); per (fraction of the training
images, seed) one 1x1-conv probe per grid point is trained from it (`seg_fit.py`); val and test positives are then
streamed once each, every probe's positive-class probability map scored exactly as `rsna-seg` scores its maps
(adapter smoothing, nearest upsampling through the geometry, threshold 0.6, cell-weighted metrics). Per (fraction,
seed) the grid point with the best mean val Dice is kept. Rows: (sample_id, fraction, seed) of the test positives.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch

from msxr_bench.adapters.base import PATCHES, TEXT
from msxr_bench.data.types import RsnaSample
from msxr_bench.engine import ImageItem
from msxr_bench.engine.images import image_failure_report
from msxr_bench.geometry import GridScoring, axis_map, resolve_placement
from msxr_bench.metrics import BOX_RULE, NAN_POLICY, STATUS_FLAGS, grounding_scores
from msxr_bench.metrics.aggregation import micro_mean
from msxr_bench.tasks.base import Loaded, RowStatistic, Scored, Task, finite_count
from msxr_bench.tasks.context import RunContext
from msxr_bench.tasks.driver import apply_limit
from msxr_bench.tasks.probe.features import PreProjectionView, require
from msxr_bench.tasks.probe.fit import random_init
from msxr_bench.tasks.probe.seeds import fractions_of, pivot
from msxr_bench.tasks.probe.seg_fit import SEG_OPTIMISER, fit_seg_probe, positive_maps
from msxr_bench.tasks.probe.seg_store import boxes_in, fill_store
from msxr_bench.tasks.probe.spec import PROBE_KINDS, RsnaSegProbeParams, fraction_label
from msxr_bench.tasks.probe.subsets import stratified_subset
from msxr_bench.tasks.rsna.classification import prompt_direction
from msxr_bench.tasks.rsna.selection import select_rsna
from msxr_bench.tasks.spec import ProtocolSpec

MEASURES = ("dice", "iou", "signed_cnr", "cnr")
FLUSH_EVERY = 256


def score_maps(run: RunContext, encoder, samples: Sequence[RsnaSample], weight: torch.Tensor, bias: torch.Tensor,
               prep, scoring: GridScoring, threshold: float) -> tuple[dict[tuple[str, int], tuple], list]:
    """{(sample_id, k): (dice, iou, signed_cnr, cnr, status)} of the K probes' maps on every decoded image."""
    by_id = {s.patient_id: s for s in samples}
    out, failures, pending = {}, [], []

    def flush() -> None:
        if pending:
            got = grounding_scores(torch.stack([p[2] for p in pending]), [p[3] for p in pending],
                                   [p[4] for p in pending], (threshold,))
            for i, (sid, k, *_rest) in enumerate(pending):
                out[(sid, k)] = (float(got.dice[i, 0]), float(got.iou[i, 0]), float(got.cnr_signed[i]),
                                 float(got.cnr[i]), int(got.status[i]))
            pending.clear()

    for batch in run.image_provider_for(encoder).batches([ImageItem(s.patient_id, s.image_path) for s in samples]):
        failures.extend(batch.failures)
        if batch.embeddings is None:
            continue
        maps = positive_maps(prep(batch.embeddings.patches.float().cpu()), weight, bias)  # [K, B, h, w]
        for b, (item, size) in enumerate(zip(batch.items, batch.sizes)):
            amap = axis_map(encoder.geometry, size[0], size[1], scoring.placement)
            boxes = boxes_in(by_id[item.key], size)
            for k in range(maps.shape[0]):
                pending.append((item.key, k, scoring.apply(maps[k, b].double(), amap), amap, boxes))
        if len(pending) >= FLUSH_EVERY:
            flush()
    flush()
    return out, failures


class RsnaSegProbeTask(Task):
    def load(self, params: RsnaSegProbeParams, protocol: ProtocolSpec, split: str, data_root: Path) -> Loaded:
        loaded = select_rsna(data_root, protocol, split, positives_only=True)
        loaded.context = {"train": select_rsna(data_root, protocol, "train", params.images == "positives"),
                          "val": select_rsna(data_root, protocol, "val", positives_only=True)}
        return loaded

    def score(self, samples: Sequence[RsnaSample], loaded: Loaded, params: RsnaSegProbeParams,
              run: RunContext) -> Scored:
        if run.world_size > 1:
            raise ValueError("rsna-seg-probe runs in one process (its training grids stream through one file)")
        if params.probe == "classic":
            encoder, init = PreProjectionView(run.adapter), None
        else:
            require(run.adapter, (PATCHES, TEXT), "the prompt-initialised segmentation probe")
            direction = prompt_direction(run, params.positive_prompts, params.negative_prompts)
            encoder, init = run.adapter, torch.stack([direction[1], direction[0]], dim=1).float().cpu()
        placement = resolve_placement(run.adapter.map_placement)
        scoring = GridScoring(run.adapter.geometry.smoothing_sigma,
                              (0.0, 1.0) if params.map_scale == "minmax" else None, placement)
        parts = {n: apply_limit(loaded.context[n].samples, run.limit, f"RSNA {n}") for n in ("train", "val")}
        t0 = time.perf_counter()
        store, train_failures = fill_store(run, encoder, parts["train"], placement)
        try:
            if not store.samples:
                raise ValueError("no training image could be embedded (see the skips)")
            prep = _prep(store, init)
            models, runs = self._fit_all(store, init, prep, params)
        finally:
            store.close()
        weight = torch.stack([m["weight"] for m in models])
        bias = torch.stack([m["bias"] for m in models])
        val, val_failures = score_maps(run, encoder, parts["val"], weight, bias, prep, scoring, params.threshold)
        test, test_failures = score_maps(run, encoder, samples, weight, bias, prep, scoring, params.threshold)
        rows = self._rows(samples, models, runs, val, test, params)
        record = self._record(params, loaded, scoring, runs, store, placement, run, time.perf_counter() - t0)
        skips = [image_failure_report(f, {s.patient_id: [f"{s.patient_id} ({name})"] for s in group})
                 for name, f, group in (("train", train_failures, parts["train"]), ("val", val_failures, parts["val"]),
                                        ("test", test_failures, samples))]
        return Scored(rows, record, skips)

    def _fit_all(self, store, init, prep, params: RsnaSegProbeParams) -> tuple[list[dict], list[dict]]:
        """One model per (fraction, seed, grid point), in that order; and one run record per (fraction, seed)."""
        models, runs, memo = [], [], {}
        labels = [s.label for s in store.samples]
        ids = [s.patient_id for s in store.samples]
        for fraction in params.fractions:
            for seed in params.seeds:
                subset = stratified_subset(labels, fraction, seed)
                weight, bias = (init, torch.zeros(2)) if init is not None else random_init(store.dim, 2, seed)
                key = (subset.indices.tobytes(), None if init is not None else seed)
                if key not in memo:
                    memo[key] = fit_seg_probe(store, subset.indices, weight, bias, params.lrs, params.weight_decays,
                                              params.epochs, params.batch_images, seed, prep)
                fit = memo[key]
                first = len(models)
                models += [{"weight": fit.weight[g], "bias": fit.bias[g]} for g in range(len(fit.grid))]
                runs.append({**subset.record(ids), "models": list(range(first, len(models))), "grid": [list(p) for p in fit.grid],
                             "steps": fit.steps, "train_loss": fit.final_loss})
        return models, runs

    def _rows(self, samples, models, runs, val, test, params) -> list[dict]:
        rows = []
        for run_record in runs:
            dice = [micro_mean(torch.tensor([v[0] for (sid, k), v in val.items() if k == m], dtype=torch.float64))
                    for m in run_record["models"]]
            best = int(torch.nan_to_num(torch.stack(dice), nan=-1.0).argmax())
            chosen = run_record["models"][best]
            run_record.update(selected_lr=run_record["grid"][best][0], selected_weight_decay=run_record["grid"][best][1],
                              val_dice=[float(d) for d in dice])
            for s in samples:
                got = test.get((s.patient_id, chosen))
                if got is not None:
                    rows.append({"sample_id": s.patient_id, "fraction": run_record["fraction"],
                                 "seed": run_record["seed"], "n_boxes": len(s.boxes), "dice": got[0], "iou": got[1],
                                 "signed_cnr": got[2], "cnr": got[3], "status": got[4]})
            del run_record["models"]
        return rows

    def _record(self, params, loaded, scoring, runs, store, placement, run, seconds) -> dict:
        return {
            **scoring.record(), "probe": params.probe, "probe_definition": PROBE_KINDS[params.probe],
            "positive_prompts": list(params.positive_prompts), "negative_prompts": list(params.negative_prompts),
            "init": "uniform +-1/sqrt(D), seeded (nn.Linear's default)" if params.probe == "classic" else
                    "1x1 conv = [t_negative, t_positive] (L2-normalised prompt-list embeddings), bias 0",
            "features": "pre-projection patch grid (encode_image_features(...).patches), standardised with the mean "
                        "and sd over every valid training cell" if params.probe == "classic" else
                        "projected, L2-normalised patch embeddings (encode_images(...).patches), as zero-shot",
            "map": f"positive-class probability per cell{' min-max rescaled to [0, 1]' if params.map_scale == 'minmax' else ''}"
                   f", threshold {params.threshold}", "map_scale": params.map_scale, "threshold": params.threshold,
            "training_images": params.images, "cell_target": "fraction of the cell's valid pixels inside the boxes",
            "grid_store": f"float16 grids {list(store.grid)} x {store.dim} in a temporary file, read per batch",
            "optimiser": SEG_OPTIMISER, "lr_grid": list(params.lrs), "weight_decay_grid": list(params.weight_decays),
            "epochs": params.epochs, "batch_images": params.batch_images, "class_weighting": "none",
            "select_on_val": "per (fraction, seed): the (lr, weight decay) with the highest mean Dice on val positives",
            "subsets": "stratified per class (with_negatives) or plain (positives): round(fraction * n) images, "
                       "at least 1, numpy default_rng([seed, round(fraction * 1e6)])",
            "evaluated": "test positives (Dice, IoU, CNR need a box)", "box_rule": BOX_RULE, "nan_policy": NAN_POLICY,
            "status_flags": dict(STATUS_FLAGS), "placement": placement, "runs": runs,
            "train": loaded.context["train"].split_record | {"n_embedded": len(store.samples)},
            "val": loaded.context["val"].split_record, "split": loaded.split_record,
            "seconds_train_and_score": round(seconds, 2),
            "ci": f"percentile bootstrap over test images (all seeds of an image together), {run.n_bootstrap} "
                  f"resamples, seed {run.seed}; statistic = mean over seeds of the mean over images",
        }

    def metrics(self, rows: Sequence[Mapping[str, Any]], scoring: Mapping[str, Any]) -> dict[str, RowStatistic]:
        out = {}
        for fraction in fractions_of(rows):
            ids, seeds, cols = pivot(rows, fraction, MEASURES)
            tag, k = fraction_label(fraction), len(seeds)
            for name in MEASURES:
                data = cols[name]
                out[f"{name}[{tag}]"] = RowStatistic(
                    data, lambda x, idx: micro_mean(x[idx].permute(0, 2, 1)).mean(-1), finite_count(data[:, 0]),
                    note=f"mean over {k} seed(s) of the mean over test positives")
        return out


def _prep(store, init):
    """Identity for the prompt probe (its features are the zero-shot ones); standardisation for the classic."""
    if init is not None:
        return lambda v: v
    mean, sd = store.mean_sd()
    return lambda v: (v - mean) / sd
