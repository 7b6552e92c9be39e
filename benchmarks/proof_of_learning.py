"""Proof of learning: train BioViL, GLoRIA and ConVIRT with their tiny configs on the toy world and evaluate
them before (the same model at initialisation, 3 seeds) and after training, on the toy MS-CXR (macro CNR,
signed CNR, right-minus-wrong phrase gap, mIoU) and RSNA (zero-shot AUROC with the toy world's prompts and
with the paper's prompt pair). Not a test: it takes minutes of CPU per model.

    python benchmarks/proof_of_learning.py                      # generates /tmp/toy-small if missing
    python benchmarks/proof_of_learning.py --models biovil --world DIR --runs /tmp/pol

Writes benchmarks/results/proof_of_learning.md (the table) and .json (every number).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from msxr_bench.learning import PAPER_PROMPTS, PromptPair, learning_metrics
from msxr_bench.training.recipes import init_checkpoint
from msxr_bench.training.loop import TrainOptions, train
from msxr_bench.toyworld.phrases import SINGLE_NEGATIONS
from msxr_bench.training.recipes import get_recipe

RESULTS = Path(__file__).resolve().parent / "results"
# The toy world's own wording (toyworld/phrases.py): its pneumonia phrase templates, generic and by location,
# against the sentences its reports use to deny pneumonia.
TOY_PROMPTS = PromptPair("toy", ("Pneumonia", "Right lower lobe pneumonia", "Left lower lobe pneumonia",
                                 "Airspace disease, likely pneumonia"),
                         tuple(s.rstrip(".") for s in SINGLE_NEGATIONS["Pneumonia"]))
PAPER = PromptPair("paper", *PAPER_PROMPTS)
METRICS = ("cnr", "signed_cnr", "phrase_gap", "miou", "auroc_toy", "auroc_paper")
HEADERS = ("macro CNR", "signed CNR", "right−wrong gap", "mIoU", "AUROC (toy prompts)", "AUROC (paper prompts)")


def ensure_world(world: Path) -> None:
    if (world / "toyworld.json").is_file():
        return
    from msxr_bench.toyworld.world import generate

    print(f"generating the toy world (scale small, seed 0) in {world} ...", flush=True)
    generate(world, seed=0, scale="small")


def evaluate(model: str, checkpoint: Path, world: Path, model_args: dict | None = None) -> dict[str, float]:
    return learning_metrics(model, checkpoint, world, [TOY_PROMPTS, PAPER], rsna_split="all", model_args=model_args)


def run_model(model: str, world: Path, runs: Path, init_seeds: list[int], max_steps: int | None) -> dict:
    run = runs / model
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    checkpoint = train(TrainOptions(model=model, data_root=world, output=run, config="tiny", seed=init_seeds[0],
                                    max_steps=max_steps, device="cpu", resume=(run / "train_state.pt").exists()))
    wall, cpu = time.perf_counter() - start_wall, time.process_time() - start_cpu
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    steps = [r for r in log if "loss" in r and "split" not in r]
    vals = [r for r in log if r.get("split") == "validate" and "loss" in r]
    init = {}
    for seed in init_seeds:
        ckpt = init_checkpoint(model, "tiny", seed, run / "tokenizer", runs / f"{model}-init-{seed}")
        init[seed] = evaluate(model, ckpt, world)
        print(model, "init", seed, init[seed], flush=True)
    trained = evaluate(model, checkpoint, world)
    print(model, "trained", trained, flush=True)
    settings = get_recipe(model, "tiny").settings
    return {"init": init, "trained": trained, "steps": steps[-1]["step"], "batch_size": settings.batch_size,
            "pairs_seen": steps[-1]["step"] * settings.batch_size, "wall_s": round(wall, 1),
            "train_cpu_s": steps[-1].get("cpu_s"), "process_cpu_s": round(cpu, 1),
            "loss_first": round(steps[0]["loss"], 3), "loss_last": round(steps[-1]["loss"], 3),
            "val_loss_first": round(vals[0]["loss"], 3) if vals else None,
            "val_loss_last": round(vals[-1]["loss"], 3) if vals else None, "checkpoint": str(checkpoint)}


def _fmt(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def targets(res: dict) -> dict[str, tuple[bool, str]]:
    init = list(res["init"].values())
    t = res["trained"]
    signed_init = statistics.mean(r["signed_cnr"] for r in init)
    miou_init = statistics.mean(r["miou"] for r in init)
    return {
        "signed-CNR gain ≥ 0.5": (t["signed_cnr"] - signed_init >= 0.5, f"{t['signed_cnr'] - signed_init:+.3f}"),
        "right−wrong gap ≥ 0.5": (t["phrase_gap"] >= 0.5, f"{t['phrase_gap']:.3f}"),
        "mIoU ≥ 2× init": (t["miou"] >= 2 * miou_init, f"{t['miou'] / miou_init:.1f}×" if miou_init else "n/a"),
        "macro CNR ≥ 0.9": (t["cnr"] >= 0.9, f"{t['cnr']:.3f}"),
        "AUROC (toy prompts) ≥ 0.85": (t["auroc_toy"] >= 0.85, f"{t['auroc_toy']:.3f}"),
    }


def markdown(results: dict, world: Path, command: str) -> str:
    lines = ["# Proof of learning (tiny configs on the toy world)", "",
             f"World: `{world}` (toy world, scale small, seed 0). MS-CXR v0.1 (all pairs); RSNA zero-shot on all "
             "images (split `all`: zero-shot, no RSNA image is trained on). Init = the same model at "
             "initialisation, mean ± sd over seeds " + ", ".join(str(s) for s in next(iter(results.values()))["init"])
             + "; trained = seed of the first init seed.", "",
             f"Toy prompts: positive {list(TOY_PROMPTS.positive)}, negative {list(TOY_PROMPTS.negative)}. "
             f"Paper prompts: {list(PAPER.positive)} / {list(PAPER.negative)}.", "",
             "| model | weights | " + " | ".join(HEADERS) + " |", "|---|---|" + "---|" * len(HEADERS)]
    for model, res in results.items():
        init = list(res["init"].values())
        lines.append(f"| {model} | init | " + " | ".join(_fmt([r[m] for r in init]) for m in METRICS) + " |")
        lines.append(f"| {model} | trained | " + " | ".join(_fmt([res['trained'][m]]) for m in METRICS) + " |")
    lines += ["", "| model | steps × batch (pairs) | wall | training CPU | loss first → last | "
              "val loss first → last | " + " | ".join(targets(next(iter(results.values()))).keys()) + " |",
              "|---|---|---|---|---|---|" + "---|" * 5]
    for model, res in results.items():
        checks = " | ".join(f"{'PASS' if ok else 'FAIL'} ({v})" for ok, v in targets(res).values())
        lines.append(f"| {model} | {res['steps']} × {res['batch_size']} ({res['pairs_seen']}) | "
                     f"{res['wall_s']:.0f} s | {res['train_cpu_s']} s | {res['loss_first']} → {res['loss_last']} | "
                     f"{res['val_loss_first']} → {res['val_loss_last']} | {checks} |")
    lines += ["", f"Reproduce: `{command}`", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--world", type=Path, default=Path("/tmp/toy-small"))
    parser.add_argument("--runs", type=Path, default=Path("/tmp/proof-of-learning"))
    parser.add_argument("--models", nargs="+", default=["biovil", "gloria", "convirt"])
    parser.add_argument("--init-seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--max-steps", type=int, default=None, help="default: each tiny recipe's")
    parser.add_argument("--results", type=Path, default=RESULTS / "proof_of_learning.md")
    args = parser.parse_args()
    ensure_world(args.world)
    results = {m: run_model(m, args.world, args.runs, args.init_seeds, args.max_steps) for m in args.models}
    command = "python benchmarks/proof_of_learning.py " + " ".join(
        [f"--world {args.world}", f"--runs {args.runs}", "--models " + " ".join(args.models)])
    text = markdown(results, args.world, command)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(text)
    args.results.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    print(text)


if __name__ == "__main__":
    main()
