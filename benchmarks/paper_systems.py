"""The systems and protocols of the BioViL paper on the toy world (issue 16), measured on 2 CPU cores:

    python benchmarks/paper_systems.py train --world /tmp/toy-small --runs /tmp/paper/runs
    python benchmarks/paper_systems.py evaluate --probe-world /tmp/toy-probe --world /tmp/toy-small \\
        --runs /tmp/paper/runs --out benchmarks/results/paper_systems.json

`train` runs the tiny configs of simclr, cxr-bert, biovil-l and biovil-baseline (the latter with the cxr-bert run as
its "BERT folder") on the small world, one process each, and keeps their logs. `evaluate` runs the probes (Tables
6 / 7 rows), the prompt sweep (Table A.1) and text-intrinsics (Table 3) on those runs, the committed tiny BioViL and
each model at initialisation, and writes the JSON that `report` turns into benchmarks/results/paper_systems.md.
The committed fixtures fixtures/models/tiny-simclr and tiny-cxr-bert are the `train` runs' checkpoints (copy
tiny-cxr-bert to RUNS/cxr-bert/checkpoint to train biovil-baseline without retraining it). `train --steps N` overrides
the STEPS defaults (recorded in summary.json); `evaluate --bootstrap N` sets the resamples and `evaluate --include
fixture init` evaluates only the matching models, keeping the other entries already in --out.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
STEPS = {"simclr": 600, "cxr-bert": 1200, "biovil-l": 600, "biovil-baseline": 600}
BATCH = {"simclr": 64, "cxr-bert": 32, "biovil-l": 32, "biovil-baseline": 32}


def log_summary(run: Path) -> dict:
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    train = [r for r in records if "loss" in r and "split" not in r]
    val = [r for r in records if r.get("split") == "validate" and "loss" in r]
    first, last = [r["loss"] for r in train[:20]], [r["loss"] for r in train[-20:]]
    return {"steps": len(train), "loss_first20": sum(first) / len(first), "loss_last20": sum(last) / len(last),
            "val_loss": [round(r["loss"], 4) for r in val], "cpu_s": train[-1].get("cpu_s")}


def train_all(world: Path, runs: Path, models: list[str], steps: int | None = None) -> None:
    from msxr_bench.training.loop import TrainOptions, train

    torch.set_num_threads(1)  # on 2 shared cores one intra-op thread trains these tiny models fastest
    for model in models:
        extra = {"text_model": str(runs / "cxr-bert" / "checkpoint")} if model == "biovil-baseline" else {}
        t0 = time.perf_counter()
        max_steps = steps or STEPS[model]
        train(TrainOptions(model=model, data_root=world, output=runs / model, config="tiny", max_steps=max_steps,
                           batch_size=BATCH[model], device="cpu", progress=False, **extra))
        summary = {"wall_s": round(time.perf_counter() - t0, 1), "max_steps": max_steps,
                   "default_steps": STEPS[model], **log_summary(runs / model)}
        (runs / model / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
        print(model, summary, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train")
    t.add_argument("--world", type=Path, required=True)
    t.add_argument("--runs", type=Path, required=True)
    t.add_argument("--models", nargs="+", default=list(STEPS))
    t.add_argument("--steps", type=int, default=None,
                   help="train every listed model for this many steps instead of its STEPS default (recorded in "
                        "summary.json as max_steps)")
    e = sub.add_parser("evaluate")
    e.add_argument("--probe-world", type=Path, required=True)
    e.add_argument("--world", type=Path, required=True)
    e.add_argument("--runs", type=Path, required=True)
    e.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "paper_systems.json")
    e.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the CIs")
    e.add_argument("--include", nargs="+", default=None,
                   help="evaluate only the models whose label contains one of these (case-insensitive); the other "
                        "models' entries already in --out are kept")
    r = sub.add_parser("report")
    r.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "paper_systems.json")
    args = parser.parse_args()
    if args.command == "train":
        train_all(args.world, args.runs, args.models, args.steps)
    elif args.command == "evaluate":
        from paper_evaluation import evaluate_all

        evaluate_all(args.probe_world, args.world, args.runs, args.out, args.bootstrap, args.include)
    else:
        from paper_evaluation import write_report

        write_report(args.json)


if __name__ == "__main__":
    main()
