"""Overhead of a remote adapter: the ms-cxr task with BioViL in process against the same adapter served by a
worker (msxr_bench.remote.workers.serve_adapter, started from this venv), on the same synthetic data.

Per run, alternating, best of --repeats:
  in process: the task's wall time and its model time (encode_images + encode_texts);
  remote: the task's wall time, the worker's model time (reported with each reply) and the round trips;
  transport = round trips - worker model time (framing, .npy, socket, both sides' waits).
Overhead = transport / model time (target <= 5%), and the end-to-end difference / in-process model time.
Figures go to stdout, and with --out to benchmarks/results/remote_overhead.{md,json}.

    nice python benchmarks/bench_remote.py --images 16 --out benchmarks/results/remote_overhead
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # official-format random files
from bench_data import write_mscxr_root  # noqa: E402
from biovil_files import write_official_files  # noqa: E402
from e2e_report import cpu_name  # noqa: E402

from msxr_bench.adapters.biovil import build_biovil  # noqa: E402
from msxr_bench.engine import resolve_runtime  # noqa: E402
from msxr_bench.remote.adapter import build_remote  # noqa: E402
from msxr_bench.results import write_result  # noqa: E402
from msxr_bench.tasks.catalog import TASKS  # noqa: E402
from msxr_bench.tasks.context import RunContext  # noqa: E402
from msxr_bench.tasks.driver import run_task as run_one  # noqa: E402

CPU = resolve_runtime("cpu")
MODEL_METHODS = ("encode_images", "encode_texts")  # what ms-cxr calls


def time_model_calls(adapter) -> dict[str, float]:
    """Wrap the adapter's model methods on the instance; the returned dict accumulates their seconds."""
    spent = {"model_s": 0.0}
    for name in MODEL_METHODS:
        method = getattr(adapter, name)

        def timed(*args, _method=method, **kwargs):
            t0 = time.perf_counter()
            try:
                return _method(*args, **kwargs)
            finally:
                spent["model_s"] += time.perf_counter() - t0
        setattr(adapter, name, timed)
    return spent


def run_task(adapter, data_root: Path, out: Path, args) -> tuple[float, dict]:
    run = RunContext(adapter=adapter, adapter_name="biovil", runtime=CPU, data_root=data_root,
                     batch_size=args.batch_size, num_workers=args.workers, n_bootstrap=args.bootstrap, seed=0,
                     progress=False)
    t0 = time.perf_counter()
    write_result(run_one(TASKS["ms-cxr"].task(), TASKS["ms-cxr"].make_params({}), run), out / "ms-cxr.json")
    wall = time.perf_counter() - t0
    return wall, json.loads((out / "ms-cxr.json").read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "msxr-bench-remote")
    ap.add_argument("--images", type=int, default=16)
    ap.add_argument("--size", type=int, default=1024, help="side of the synthetic JPEGs")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=CPU.default_batch_size)
    ap.add_argument("--bootstrap", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", type=Path, default=None, help="write OUT.md and OUT.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    data = write_mscxr_root(args.work / "data", args.images, args.size, args.size)
    weights = args.work / "weights"
    if not (weights / "text" / "model.safetensors").is_file():
        write_official_files(weights, "biovil", seed=0, text_fmt="safetensors")
    files = {"image_weights": str(weights / "biovil_image_resnet50_proj_size_128.pt"),
             "text_model": str(weights / "text"), "verify": "false"}
    local = build_biovil(**files).eval()
    local_time = time_model_calls(local)
    t0 = time.perf_counter()
    remote = build_remote(entry="msxr_bench.remote.workers.serve_adapter:make_adapter", **{
        "arg.model": "biovil", "arg.threads": str(args.threads), **{f"arg.{k}": v for k, v in files.items()}})
    startup = time.perf_counter() - t0
    runs = {"in_process": [], "remote": []}
    rows = {}
    for _ in range(args.repeats):
        for name, adapter in (("in_process", local), ("remote", remote)):
            before = dict(remote.session.stats), local_time["model_s"]
            wall, result = run_task(adapter, args.work / "data", args.work / name, args)
            stats = {k: remote.session.stats[k] - before[0][k] for k in before[0]}
            model = local_time["model_s"] - before[1] if name == "in_process" else stats["worker_s"]
            runs[name].append({"wall_s": wall, "model_s": model, **(stats if name == "remote" else {})})
            rows[name] = {r["sample_id"]: r for r in result["samples"]}
    remote.close()
    best = {name: min(r, key=lambda x: x["wall_s"]) for name, r in runs.items()}
    rb = best["remote"]
    transport = rb["round_trip_s"] - rb["worker_s"]
    worst = max(abs(v - rows["remote"][sid][k]) for sid, r in rows["in_process"].items() for k, v in r.items()
                if isinstance(v, float))
    figures = {
        "images": data["images"], "pairs": data["pairs"], "size": args.size, "threads": args.threads,
        "workers": args.workers, "batch_size": args.batch_size, "repeats": args.repeats, "runs": runs,
        "worker_startup_s": startup, "requests": rb["requests"], "transport_s": transport,
        "transport_over_model": transport / rb["worker_s"],
        "end_to_end_over_model": (rb["wall_s"] - best["in_process"]["wall_s"]) / best["in_process"]["model_s"],
        "max_abs_diff_per_sample": worst, "load_before": load_before, "load_after": os.getloadavg(),
        "cpu": f"{os.cpu_count()} cores ({cpu_name()})", "torch": torch.__version__,
    }
    text = render(figures)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.with_suffix(".md").write_text(text + "\n")
        args.out.with_suffix(".json").write_text(json.dumps(figures, indent=2) + "\n")


def render(f: dict) -> str:
    ip, rm = (min(f["runs"][k], key=lambda x: x["wall_s"]) for k in ("in_process", "remote"))
    load = lambda xs: "/".join(f"{x:.2f}" for x in xs)  # noqa: E731
    return "\n".join([
        "# Remote adapter overhead: ms-cxr with BioViL, in process vs served by a worker",
        "",
        f"Machine: {f['cpu']}, shared; torch {f['torch']}, {f['threads']} intra-op threads in whichever process "
        f"runs the model. Load average (1/5/15 min) before {load(f['load_before'])}, after {load(f['load_after'])}.",
        f"Data: {f['images']} synthetic {f['size']}x{f['size']} JPEGs, {f['pairs']} (image, phrase) pairs; BioViL "
        "with random weights in the released formats (ResNet-50, BERT-base-sized CXR-BERT); batch size "
        f"{f['batch_size']}, {f['workers']} DataLoader workers; best of {f['repeats']} alternating runs. The worker "
        "serves our own `biovil` adapter (msxr_bench.remote.workers.serve_adapter) from this venv.",
        "",
        "| | task wall s | model s |",
        "|---|---:|---:|",
        f"| in process | {ip['wall_s']:.2f} | {ip['model_s']:.2f} |",
        f"| remote | {rm['wall_s']:.2f} | {rm['model_s']:.2f} (in the worker) |",
        "",
        f"- requests: {f['requests']}; round trips {rm['round_trip_s']:.3f} s, of which the worker computed "
        f"{rm['worker_s']:.3f} s: transport {f['transport_s'] * 1e3:.1f} ms "
        f"({f['transport_s'] / f['requests'] * 1e3:.2f} ms per request)",
        f"- **transport / model time = {100 * f['transport_over_model']:.2f}%** (target <= 5%: "
        f"{'met' if f['transport_over_model'] <= 0.05 else 'NOT met'})",
        f"- end-to-end difference / in-process model time = {100 * f['end_to_end_over_model']:+.1f}% "
        "(includes the run-to-run noise of a shared machine)",
        f"- worker start-up (interpreter, imports, weights, handshake), once per run: {f['worker_startup_s']:.1f} s",
        f"- per-sample rows, remote vs in process: max |difference| {f['max_abs_diff_per_sample']:.1e}",
        "",
        f"Command: `nice python benchmarks/bench_remote.py --images {f['images']} --size {f['size']} "
        f"--threads {f['threads']} --workers {f['workers']} --batch-size {f['batch_size']} --repeats {f['repeats']}`",
    ])


if __name__ == "__main__":
    main()
