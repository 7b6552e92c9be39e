"""End-to-end benchmark on CPU: `evaluate --task ms-cxr --model biovil` against its limit and against hi-ml.

BioViL with random weights in the released formats (ResNet-50 image `.pt`, BERT-base-sized CXR-BERT) on
MIMIC-size JPEGs (2544 x 3056, quality 95) with MS-CXR's phrases-per-image ratio. In one run it measures
  (a) the limit: decode + resize + one image forward per unique image (sequential, no overhead);
  (b) the ms-cxr task as `msxr-bench evaluate` runs it (DataLoader workers, batching, texts once per unique
      phrase, maps, exact metrics, 1,000-resample bootstrap, results JSON), with where its time goes;
  (c) the official `get_similarity_map_from_raw_data` looped over the same (image, phrase) pairs with the same
      weights, in the hi-ml-multimodal venv (scripts/oracle_env.sh), and checks that every map is equal;
  (d) the same task with a cold and a warm `--cache-dir` (re-run speed-up).
Figures go to stdout and, with --markdown, to benchmarks/results/end_to_end.md.

    python benchmarks/bench_end_to_end.py --images 30 --markdown benchmarks/results/end_to_end.md
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # official-format random files
from bench_data import write_mscxr_root  # noqa: E402
from e2e_report import Report, load_average  # noqa: E402

from msxr_bench.adapters.biovil import build_biovil  # noqa: E402
from biovil_files import write_official_files  # noqa: E402
from msxr_bench.cache import EvalCache  # noqa: E402
from msxr_bench.geometry import grid_to_image  # noqa: E402
from msxr_bench.data.images import load_image  # noqa: E402
from msxr_bench.engine import ImageItem, ModelImageEmbeddings, profile, resolve_runtime  # noqa: E402
from msxr_bench.engine.pixels import preprocess_uint8, to_model_input  # noqa: E402
from msxr_bench.results import write_result  # noqa: E402
from msxr_bench.tasks.catalog import TASKS  # noqa: E402
from msxr_bench.tasks.context import RunContext  # noqa: E402
from msxr_bench.tasks.driver import run_task as run_one  # noqa: E402
from msxr_bench.tasks.grounding.ms_cxr import grid_scoring_for  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CPU = resolve_runtime("cpu")


def measure_limit(adapter, paths: list[Path], batch_size: int) -> dict[str, float]:
    """Sequential decode, resize and forward of every image: forward at batch 1 and at `batch_size`."""
    t = {"decode": 0.0, "resize": 0.0, "forward (batch 1)": 0.0, "forward (batched)": 0.0}
    inputs = []
    with torch.inference_mode():
        for path in paths:
            t0 = time.perf_counter()
            image = load_image(path)
            t1 = time.perf_counter()
            x = to_model_input(torch.from_numpy(preprocess_uint8(image, adapter.geometry))[None], 3, CPU.device)
            t2 = time.perf_counter()
            adapter.encode_images(x)
            t3 = time.perf_counter()
            t["decode"] += t1 - t0
            t["resize"] += t2 - t1
            t["forward (batch 1)"] += t3 - t2
            inputs.append(x)
        for start in range(0, len(inputs), batch_size):
            t0 = time.perf_counter()
            adapter.encode_images(torch.cat(inputs[start:start + batch_size]))
            t["forward (batched)"] += time.perf_counter() - t0
    t["limit"] = t["decode"] + t["resize"] + min(t["forward (batch 1)"], t["forward (batched)"])
    return t


def run_task(adapter, data_root: Path, out: Path, args, cache: EvalCache | None) -> tuple[float, dict, dict]:
    """(wall seconds, profile summary, tallies) of the ms-cxr task as the CLI runs it."""
    run = RunContext(adapter=adapter, adapter_name="biovil", runtime=CPU, data_root=data_root,
                     batch_size=args.batch_size, num_workers=args.workers, n_bootstrap=args.bootstrap, seed=0,
                     progress=False, cache=cache)
    profile.reset()
    t0 = time.perf_counter()
    write_result(run_one(TASKS["ms-cxr"].task(), TASKS["ms-cxr"].make_params({}), run), out / "ms-cxr.json")
    return time.perf_counter() - t0, profile.summary(), dict(profile.TALLIES)


def run_official(weights: dict[str, Path], pairs: list[tuple[Path, str]], work: Path, threads: int) -> dict:
    proc = subprocess.run(["bash", str(REPO / "scripts" / "oracle_env.sh")], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"cannot create the hi-ml-multimodal venv (scripts/oracle_env.sh):\n{proc.stderr[-2000:]}")
    python = Path(proc.stdout.strip().splitlines()[-1]) / "bin" / "python"
    job = {"image_weights": str(weights["image_weights"]), "text_model": str(weights["text_model"]),
           "resize": 512, "crop": 480, "threads": threads, "pairs": [[str(p), s] for p, s in pairs]}
    out = work / "official"
    shutil.rmtree(out, ignore_errors=True)
    (work / "official_job.json").write_text(json.dumps(job))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(HF_HUB_OFFLINE="1", OMP_NUM_THREADS=str(threads))
    proc = subprocess.run([str(python), str(REPO / "benchmarks" / "oracle_loop.py"), str(work / "official_job.json"),
                           str(out)], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"official loop failed:\n{proc.stderr[-4000:]}")
    return {**json.loads((out / "timings.json").read_text()), "maps": out / "maps.npz"}


def compare_maps(adapter, pairs: list[tuple[Path, str]], maps_npz: Path, cache: EvalCache, args) -> dict:
    """Our maps of every pair (the task's path: cached embeddings of run (b), smoothing, nearest upsampling
    with the official placement) against the official ones: max |difference| and NaN masks."""
    scoring = grid_scoring_for(adapter)
    assert scoring.rescale is None, "BioViL maps are not rescaled"
    provider = ModelImageEmbeddings(adapter, CPU, args.batch_size, args.workers, progress=None, cache=cache)
    items = {p: ImageItem(str(p), p) for p, _ in pairs}
    embedded = {}
    for batch in provider.batches(list(items.values())):
        for b, (item, size) in enumerate(zip(batch.items, batch.sizes)):
            embedded[item.path] = (size, batch.embeddings.patches[b:b + 1])
    phrases = sorted({s for _, s in pairs})
    with torch.inference_mode():
        texts = dict(zip(phrases, adapter.encode_texts(phrases)))
    worst, masks_equal = 0.0, True
    with np.load(maps_npz) as official:
        for k, (path, phrase) in enumerate(pairs):
            (h, w), patches = embedded[path]
            grid = torch.einsum("bhwd,d->bhw", patches, texts[phrase])[0]
            ours = grid_to_image(scoring.apply(grid, None), adapter.geometry, h, w, placement=scoring.placement,
                                 interpolation="nearest").numpy()
            rows, cols, values = official[f"{k}_rows"], official[f"{k}_cols"], official[f"{k}_values"]
            r_id = np.repeat(np.arange(len(rows)), np.diff(np.r_[rows, h]))
            c_id = np.repeat(np.arange(len(cols)), np.diff(np.r_[cols, w]))
            theirs = values[r_id][:, c_id]
            masks_equal &= bool(np.array_equal(np.isnan(ours), np.isnan(theirs)))
            worst = max(worst, float(np.nanmax(np.abs(ours.astype(np.float64) - theirs))))
    return {"pairs": len(pairs), "max_abs_diff": worst, "nan_masks_equal": masks_equal}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "msxr-bench-e2e")
    ap.add_argument("--images", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=CPU.default_batch_size, help="default: evaluate's on CPU")
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=1, help="(a) and (b) alternately this many times; best kept")
    ap.add_argument("--skip-official", action="store_true")
    ap.add_argument("--markdown", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    report = Report(args, load_average())
    data = write_mscxr_root(args.work / "data", args.images)
    weights_dir = args.work / "weights"
    if not (weights_dir / "text" / "model.safetensors").is_file():
        write_official_files(weights_dir, "biovil", seed=0, text_fmt="safetensors")
    weights = {"image_weights": weights_dir / "biovil_image_resnet50_proj_size_128.pt",
               "text_model": weights_dir / "text"}
    adapter = build_biovil(image_weights=str(weights["image_weights"]), text_model=str(weights["text_model"]),
                           verify="false").eval()
    paths = sorted(set(data["paths"]))
    with torch.inference_mode():  # one untimed forward: allocator and oneDNN warm-up for both sides
        adapter.encode_images(torch.rand(1, 3, 480, 480))
    for _ in range(args.repeats):
        report.limit.append(measure_limit(adapter, paths, args.batch_size))
        report.task.append(run_task(adapter, args.work / "data", args.work / "results", args, None))
    cache_dir = args.work / "cache"
    shutil.rmtree(cache_dir, ignore_errors=True)
    report.cold = run_task(adapter, args.work / "data", args.work / "results-cached", args, EvalCache(cache_dir))
    report.warm = run_task(adapter, args.work / "data", args.work / "results-cached", args, EvalCache(cache_dir))
    report.same_results = report.results_equal(args.work / "results" / "ms-cxr.json",
                                               args.work / "results-cached" / "ms-cxr.json")
    if not args.skip_official:
        report.official = run_official(weights, data["pairs_list"], args.work, args.threads)
        report.maps = compare_maps(adapter, data["pairs_list"], report.official["maps"], EvalCache(cache_dir), args)
    report.load_after = load_average()
    text = report.render(data)
    print(text)
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(text + "\n")


if __name__ == "__main__":
    main()
