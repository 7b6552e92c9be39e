"""Host memory of the streamed pipeline as the number of images grows: ms-cxr on 100 and on 1,000 toy images.

Each size runs in a fresh process (BioViL geometry 512/480 with a tiny random ResNet, so decoding and the
pipeline dominate; 2 DataLoader workers; 1,000 bootstrap resamples). Reported: peak RSS of the main process,
the largest peak RSS of a worker, and the main process's RSS before and after the task.

    python benchmarks/bench_memory.py [--sizes 100 1000] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_data import write_mscxr_root  # noqa: E402


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize() / 2**20


def child(root: Path, ckpt: Path, n_images: int) -> None:
    import torch

    from msxr_bench.adapters.biovil import build_biovil
    from msxr_bench.engine import resolve_runtime
    from msxr_bench.tasks.catalog import TASKS
    from msxr_bench.tasks.context import RunContext
    from msxr_bench.tasks.driver import run_task

    torch.set_num_threads(2)
    adapter = build_biovil(checkpoint=str(ckpt))
    run = RunContext(adapter=adapter, adapter_name="biovil", runtime=resolve_runtime("cpu"), data_root=root,
                     num_workers=2, batch_size=16, n_bootstrap=1000, progress=False)
    before = rss_mb()
    t0 = time.perf_counter()
    result = run_task(TASKS["ms-cxr"].task(), TASKS["ms-cxr"].make_params({}), run)
    wall = time.perf_counter() - t0
    images = len({r["dicom_id"] for r in result.samples})
    print(json.dumps({"images": images, "samples": len(result.samples), "wall_s": wall, "rss_before_mb": before,
                      "rss_after_mb": rss_mb(),
                      "peak_main_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "peak_worker_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))


def tiny_checkpoint(directory: Path) -> Path:
    import torch
    from transformers import BertTokenizer

    from msxr_bench.adapters.biovil_checkpoint import BioViLCheckpointConfig, save_biovil_checkpoint
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from biovil_files import random_text_model, toy_vocab
    from msxr_bench.models.biovil import BioViLImageConfig, BioViLImageModel

    if (directory / "config.json").is_file():
        return directory
    config = BioViLImageConfig(depth=10, width=8, joint_feature_size=32, imagenet_fc=False)
    torch.manual_seed(0)
    text = random_text_model(0, hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128,
                             projection_size=32)
    directory.parent.mkdir(parents=True, exist_ok=True)
    (directory.parent / "vocab.txt").write_text("\n".join(toy_vocab()) + "\n")
    return save_biovil_checkpoint(directory, BioViLImageModel(config), text,
                                  BertTokenizer(str(directory.parent / "vocab.txt")),
                                  BioViLCheckpointConfig(image=config, resize=512, crop=480))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 1000])
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "msxr-bench-memory")
    ap.add_argument("--child", nargs=3, metavar=("ROOT", "CKPT", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(Path(args.child[0]), Path(args.child[1]), int(args.child[2]))
        return
    ckpt = tiny_checkpoint(args.work / "ckpt")
    rows = []
    for n in args.sizes:
        root = args.work / f"images-{n}"
        write_mscxr_root(root / "data", n, height=512, width=512, seed=1)
        out = subprocess.run([sys.executable, __file__, "--child", str(root / "data"), str(ckpt), str(n)],
                             capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print("| images | samples | wall s | RSS before task MB | RSS after MB | peak RSS main MB | peak RSS worker MB |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['images']} | {r['samples']} | {r['wall_s']:.1f} | {r['rss_before_mb']:.0f} | "
              f"{r['rss_after_mb']:.0f} | {r['peak_main_mb']:.0f} | {r['peak_worker_mb']:.0f} |")
    if len(rows) >= 2:
        a, b = rows[0], rows[-1]
        print(f"\n{b['images'] / a['images']:.0f}x the images: peak RSS of the main process x"
              f"{b['peak_main_mb'] / a['peak_main_mb']:.2f} (+{b['peak_main_mb'] - a['peak_main_mb']:.0f} MB), "
              f"of a worker x{b['peak_worker_mb'] / a['peak_worker_mb']:.2f}")


if __name__ == "__main__":
    main()
