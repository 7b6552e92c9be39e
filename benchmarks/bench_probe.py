"""Speed and memory of the probes after the embedding pass (issue 16), with synthetic embeddings of the real sizes:

    python benchmarks/bench_probe.py speed [--threads 2]     # one (fraction, seed) classification probe
    python benchmarks/bench_probe.py memory                  # segmentation probe: peak host memory vs N images

speed: GLoRIA's RSNA split sizes (18,678 train / 4,003 val / 4,003 test), 128-d L2-normalised embeddings with a
weak class signal, 22% positives; one (fraction, seed) = the task's own `_fit`: 9 (lr, weight decay) probes of
100 full-batch epochs, validation AUROC of each, the val threshold and the test scores.
memory: the segmentation probe's training grids stream through the task's GridStore and the maps through
`score_maps`, from a synthetic image provider (BioViL's geometry: 1024-px images, crop 480, 15 x 15 x 128 grids);
each N runs in a fresh process and reports its peak RSS (ru_maxrss).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
SIZES = {"train": 18678, "val": 4003, "test": 4003}


def _features(n: int, g: torch.Generator):
    from msxr_bench.data.types import RsnaSample
    from msxr_bench.tasks.probe.features import SplitFeatures

    labels = (torch.rand(n, generator=g) < 0.22).long()
    signal = torch.nn.functional.normalize(torch.ones(128), dim=0)
    x = torch.nn.functional.normalize(torch.randn(n, 128, generator=g) + 0.4 * labels[:, None] * signal, dim=1)
    samples = [RsnaSample(f"id{i}", Path("none"), int(y), ()) for i, y in enumerate(labels.tolist())]
    return SplitFeatures(samples, x, [])


def speed(threads: int) -> dict:
    from msxr_bench.tasks.probe.classification import RsnaClsProbeTask
    from msxr_bench.tasks.probe.spec import RSNA_CLS_PROBE, RsnaClsProbeParams
    from msxr_bench.tasks.probe.subsets import stratified_subset

    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(0)
    feats = {name: _features(n, g) for name, n in SIZES.items()}
    task, params = RsnaClsProbeTask(RSNA_CLS_PROBE), RsnaClsProbeParams()
    init = torch.nn.functional.normalize(torch.randn(128, 2, generator=g), dim=0)
    out = {"threads": threads, "grid_points": len(params.lrs) * len(params.weight_decays), "epochs": params.epochs}
    for probe in ("prompt", "classic"):
        for fraction in (0.01, 0.1, 1.0):
            subset = stratified_subset(feats["train"].labels.tolist(), fraction, 0)
            task._fit(feats, subset.indices, init if probe == "prompt" else None, 0, params)  # warm-up
            walls, cpus = [], []
            for seed in range(3):
                t0, c0 = time.perf_counter(), time.process_time()
                task._fit(feats, subset.indices, init if probe == "prompt" else None, seed, params)
                walls.append(time.perf_counter() - t0)
                cpus.append(time.process_time() - c0)
            out[f"{probe} {fraction:g}"] = {"n_train": int(subset.indices.size), "wall_s": round(min(walls), 3),
                                            "cpu_s": round(min(cpus), 3)}
    return out


class SyntheticGrids:
    """An image provider of random 15 x 15 x 128 grids (no decoding), one batch of 32 at a time."""

    def __init__(self, dim: int = 128) -> None:
        self.dim = dim

    def batches(self, items):
        from msxr_bench.adapters.base import ImageEmbeddings
        from msxr_bench.engine.images import ImageBatch

        items = list(items)
        for lo in range(0, len(items), 32):
            part = items[lo:lo + 32]
            g = torch.Generator().manual_seed(lo)
            patches = torch.nn.functional.normalize(torch.randn(len(part), 15, 15, self.dim, generator=g), dim=-1)
            yield ImageBatch(part, [(1024, 1024)] * len(part), ImageEmbeddings(patches.mean((1, 2)), patches))


def memory_one(n: int) -> dict:
    from msxr_bench.data.types import Box, RsnaSample
    from msxr_bench.geometry import GridScoring
    from msxr_bench.geometry.types import Geometry
    from msxr_bench.tasks.probe.seg_fit import fit_seg_probe
    from msxr_bench.tasks.probe.seg_store import fill_store
    from msxr_bench.tasks.probe.segmentation import score_maps

    torch.set_num_threads(1)

    class Encoder:
        geometry = Geometry("resize_crop", resize=512, crop=480, grid=(15, 15), smoothing_sigma=1.5)
        meta = type("M", (), {"name": "synthetic"})()

    class Run:
        image_provider = SyntheticGrids()

        def image_provider_for(self, _):
            return self.image_provider

    rng = np.random.default_rng(0)
    samples = [RsnaSample(f"id{i}", Path("none"), 1, (Box(*rng.uniform(100, 500, 2), 300.0, 300.0),))
               for i in range(n)]
    t0 = time.perf_counter()
    store, _ = fill_store(Run(), Encoder(), samples, "official")
    fit = fit_seg_probe(store, np.arange(n), torch.randn(128, 2) * 0.1, torch.zeros(2), (1e-2, 1e-1), (0.0,), 2, 64, 0)
    scores, _ = score_maps(Run(), Encoder(), samples[: max(1, n // 4)], fit.weight, fit.bias, lambda v: v,
                           GridScoring(1.5, (0.0, 1.0), "official"), 0.6)
    store.close()
    return {"n_train_images": n, "n_scored_images": max(1, n // 4), "seconds": round(time.perf_counter() - t0, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "grid_file_mb": round(n * 15 * 15 * 128 * 2 / 2**20, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("speed", "memory", "memory-one"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--n", type=int, default=0)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    if args.what == "speed":
        print(json.dumps(speed(args.threads), indent=1))
    elif args.what == "memory-one":
        print(json.dumps(memory_one(args.n)))
    else:
        for n in (250, 1000, 4000):
            got = subprocess.run([sys.executable, __file__, "memory-one", "--n", str(n)], capture_output=True,
                                 text=True, check=True)
            print(got.stdout.strip().splitlines()[-1], flush=True)


if __name__ == "__main__":
    main()
