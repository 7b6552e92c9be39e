"""Full figure of box grounding on a toy world: the reference box model (phrase box head on the shipped tiny BioViL,
trained with `msxr-bench train --model biovil-boxes` on MS-CXR v1.1.0 train) against boxes from the same backbone's
heatmaps (the named rule) and the fixed centre box, on v1.1.0 test with 95% bootstrap CIs; heatmap vs centre also
on every pair (neither trains on MS-CXR); and the heatmap rule's choices on the train split (how the default was
chosen). Writes benchmarks/results/box_grounding.{md,json}.

    python benchmarks/box_grounding.py --world /tmp/toy-boxes-1 --run /tmp/box-run-1 [--seed 1] [--steps 400]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from msxr_bench.adapters.biovil import build_biovil
from msxr_bench.adapters.biovil_boxes import build_biovil_boxes
from msxr_bench.adapters.centre_box import CentreBoxAdapter
from msxr_bench.engine import resolve_runtime
from msxr_bench.tasks.catalog import TASKS
from msxr_bench.tasks.context import RunContext
from msxr_bench.tasks.driver import run_task

ROOT = Path(__file__).resolve().parents[1]
BACKBONE = ROOT / "fixtures" / "models" / "tiny-biovil"
RESULTS = ROOT / "benchmarks" / "results"
SHOWN = ("acc@0.5_micro", "acc@0.3_micro", "acc@0.7_micro", "best_box_iou_micro", "union_iou_micro", "pooled_miou",
         "map", "ap50", "cnr_macro")
RULES = ("top-fraction@0.04", "top-fraction@0.06", "top-fraction@0.08", "top-fraction@0.1", "top-fraction@0.12",
         "top-fraction@0.15", "minmax-components@0.5", "minmax-components@0.7")


def evaluate(adapter, world: Path, protocol: str, split: str, n_bootstrap: int, **params) -> dict:
    spec = TASKS["ms-cxr-boxes"]
    run = RunContext(adapter=adapter, runtime=resolve_runtime("cpu"), data_root=world, n_bootstrap=n_bootstrap,
                     progress=False)
    r = run_task(spec.task(), spec.make_params({"protocol": protocol, "split": split, **params}), run)
    out = {"n": r.dataset.n_samples, "box_source": r.scoring["box_source"].get("rule") or "model"}
    for k in SHOWN:
        m = r.metrics[k]
        out[k] = [m.value, m.ci.low if m.ci else None, m.ci.high if m.ci else None]
    return out


def cell(v: list) -> str:
    if v[0] is None:
        return "n/a"
    return f"{v[0]:.3f}" + (f" [{v[1]:.3f}, {v[2]:.3f}]" if v[1] is not None else "")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--world", type=Path, required=True)
    ap.add_argument("--run", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--steps", type=int, default=None, help="training steps (default: the recipe's)")
    ap.add_argument("--bootstrap", type=int, default=1000)
    args = ap.parse_args()
    torch.set_num_threads(1)
    timing = {}
    if not (args.world / "toyworld.json").exists():
        from msxr_bench.toyworld import generate

        t0 = time.perf_counter()
        generate(args.world, seed=args.seed, scale="boxes")
        timing["world_s"] = round(time.perf_counter() - t0, 1)
    checkpoint = args.run / "checkpoint"
    if not checkpoint.exists():
        from msxr_bench.training.loop import TrainOptions, train

        t0 = time.perf_counter()
        train(TrainOptions(model="biovil-boxes", data_root=args.world, output=args.run, config="tiny",
                           image_init=str(BACKBONE), max_steps=args.steps, seed=0, progress=False))
        timing["train_s"] = round(time.perf_counter() - t0, 1)
    models = {"biovil-boxes (trained)": build_biovil_boxes(checkpoint=str(checkpoint)),
              "tiny BioViL heatmap boxes": build_biovil(checkpoint=str(BACKBONE)), "centre box": CentreBoxAdapter()}
    test = {name: evaluate(a, args.world, "v1.1.0-test", "test", args.bootstrap) for name, a in models.items()}
    every = {name: evaluate(models[name], args.world, "v0.1-all", "all", args.bootstrap)
             for name in ("tiny BioViL heatmap boxes", "centre box")}
    rules = {rule: evaluate(models["tiny BioViL heatmap boxes"], args.world, "v1.1.0-test", "train", 0,
                            map_box_rule=rule) for rule in RULES}
    log = [json.loads(line) for line in (args.run / "log.jsonl").read_text().splitlines()]
    val = [x for x in log if x.get("split") == "validate"]
    record = {"world": str(args.world), "seed": args.seed, "timing": timing, "test": test, "all_pairs": every,
              "rules_on_train": rules, "validation": val[-1] if val else None}
    (RESULTS / "box_grounding.json").write_text(json.dumps(record, indent=1) + "\n")
    head = "| model | n | " + " | ".join(SHOWN) + " |\n|" + "---|" * (len(SHOWN) + 2) + "\n"
    lines = [f"# Box grounding on the toy world (scale boxes, seed {args.seed})", "",
             f"Box model: `msxr-bench train --model biovil-boxes --image-init fixtures/models/tiny-biovil` "
             f"({args.steps or 'the recipe default'} steps, frozen backbone) on MS-CXR v1.1.0 train; heatmap boxes: "
             "the same backbone's maps by the default rule (top-fraction@0.1); centre box: `centre-box`. 95% "
             f"bootstrap CIs ({args.bootstrap} resamples, stratified by category). Timing: {timing}.", "",
             "## MS-CXR v1.1.0 test", "", head.rstrip("\n")]
    lines += [f"| {n} | {v['n']} | " + " | ".join(cell(v[k]) for k in SHOWN) + " |" for n, v in test.items()]
    lines += ["", "## Every pair (v0.1-all; neither model trains on MS-CXR)", "", head.rstrip("\n")]
    lines += [f"| {n} | {v['n']} | " + " | ".join(cell(v[k]) for k in SHOWN) + " |" for n, v in every.items()]
    lines += ["", "## Heatmap -> box rules on the v1.1.0 train split (how the default was chosen)", "",
              "| rule | n | acc@0.5 | acc@0.3 | best-box IoU | union IoU | pooled mIoU |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {rule} | {v['n']} | {v['acc@0.5_micro'][0]:.3f} | {v['acc@0.3_micro'][0]:.3f} | "
              f"{v['best_box_iou_micro'][0]:.3f} | {v['union_iou_micro'][0]:.3f} | {v['pooled_miou'][0]:.3f} |"
              for rule, v in rules.items()]
    lines += ["", f"Reproduce: `python benchmarks/box_grounding.py --world {args.world} --run {args.run} "
                  f"--seed {args.seed}`", ""]
    (RESULTS / "box_grounding.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
