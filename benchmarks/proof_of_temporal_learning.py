"""Proof of temporal learning: train BioViL-T's tiny temporal recipe on the toy world and score it on MS-CXR-T
progression (ms-cxr-t-cls) with its two-image path, against its own single-image use (the same weights on the current
image alone) and against the same model at initialisation (3 seeds); zero-shot and with the linear probe, on all rows
and on the rows outside the MIMIC train split (protocol mimic-split, test: images the model never trained on); and
ms-cxr-t-sim. Not a test: it takes a CPU hour on a busy machine.

    python benchmarks/proof_of_temporal_learning.py --world /tmp/toy-temporal --runs /tmp/potl   # generates the world

Writes benchmarks/results/proof_of_temporal_learning.md (the table) and .json (every number), with 95% bootstrap CIs
(over MS-CXR-T rows) of the zero-shot macro accuracies; `--cis-only` adds them to an existing .json without training.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from msxr_bench.adapters.registry import build_adapter
from msxr_bench.engine import resolve_runtime
from msxr_bench.tasks.catalog import TASKS
from msxr_bench.tasks.context import RunContext
from msxr_bench.tasks.driver import run_task
from msxr_bench.training.loop import TrainOptions, train
from msxr_bench.training.recipes import get_recipe, init_checkpoint

RESULTS = Path(__file__).resolve().parent / "results"
SETTINGS = {  # name -> ms-cxr-t-cls parameters
    "zero-shot, pair": {},
    "zero-shot, current only": {"image_input": "current-only"},
    "zero-shot, pair, MIMIC test rows": {"protocol": "mimic-split", "split": "test"},
    "zero-shot, current only, MIMIC test rows": {"protocol": "mimic-split", "split": "test",
                                                 "image_input": "current-only"},
    "probe, pair": {"mode": "linear-probe"},
    "probe, current only": {"mode": "linear-probe", "image_input": "current-only"},
}


def ensure_world(world: Path) -> None:
    if (world / "ms-cxr-t").is_dir():
        return
    from msxr_bench.toyworld.world import generate

    print(f"generating the toy world (scale temporal, seed 0) in {world} ...", flush=True)
    generate(world, seed=0, scale="temporal")


def scores(checkpoint: Path, world: Path) -> dict[str, float]:
    """Macro accuracy of ms-cxr-t-cls in every SETTINGS entry, and ms-cxr-t-sim's ROC-AUC."""
    adapter = build_adapter("biovil-t", checkpoint=str(checkpoint))
    run = RunContext(adapter=adapter, runtime=resolve_runtime("cpu"), data_root=world, adapter_name="biovil-t",
                     batch_size=32, n_bootstrap=0, progress=False)
    out = {}
    for name, params in SETTINGS.items():
        spec = TASKS["ms-cxr-t-cls"]
        out[name] = run_task(spec.task(), spec.make_params(params), run).metrics["macro_accuracy"].value
    sim = TASKS["ms-cxr-t-sim"]
    out["sentence ROC-AUC"] = run_task(sim.task(), sim.make_params({}), run).metrics["roc_auc"].value
    return out


CI_SETTINGS = ("zero-shot, pair", "zero-shot, current only", "zero-shot, pair, MIMIC test rows",
               "zero-shot, current only, MIMIC test rows")


def intervals(checkpoint: Path, world: Path, n_bootstrap: int) -> dict[str, list[float]]:
    """[value, CI low, CI high] of ms-cxr-t-cls macro accuracy in the zero-shot settings (seeded bootstrap)."""
    adapter = build_adapter("biovil-t", checkpoint=str(checkpoint))
    run = RunContext(adapter=adapter, runtime=resolve_runtime("cpu"), data_root=world, adapter_name="biovil-t",
                     batch_size=32, n_bootstrap=n_bootstrap, seed=0, progress=False)
    spec, out = TASKS["ms-cxr-t-cls"], {}
    for name in CI_SETTINGS:
        m = run_task(spec.task(), spec.make_params(SETTINGS[name]), run).metrics["macro_accuracy"]
        out[name] = [m.value, m.ci.low, m.ci.high]
    return out


def add_intervals(res: dict, world: Path, runs: Path, n_bootstrap: int) -> None:
    res["ci"] = {"n_bootstrap": n_bootstrap, "trained": intervals(Path(res["checkpoint"]), world, n_bootstrap),
                 "init": {seed: intervals(runs / f"biovil-t-init-{seed}", world, n_bootstrap) for seed in res["init"]}}


TEXT_STAGE = dict(batching="progression-contrast", temperature=0.1)  # the temporal CXR-BERT (--pretrain-text)


def pretrain_text(world: Path, runs: Path, seed: int) -> str:
    """Stage 1: the tiny CXR-BERT of the world's reports, progression-contrast batches, RSM tau 0.1."""
    out_dir = runs / "cxr-bert"
    return str(train(TrainOptions(model="cxr-bert", data_root=world, output=out_dir, config="tiny", seed=seed,
                                  device="cpu", resume=(out_dir / "train_state.pt").exists(), **TEXT_STAGE)))


def run(world: Path, runs: Path, seeds: list[int], max_steps: int | None, text_model: str | None,
        lock_text: bool) -> dict:
    out_dir = runs / "biovil-t"
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    checkpoint = train(TrainOptions(model="biovil-t", data_root=world, output=out_dir, config="tiny", seed=seeds[0],
                                    max_steps=max_steps, device="cpu", resume=(out_dir / "train_state.pt").exists(),
                                    text_model=text_model, lock_text=lock_text))
    wall, cpu = time.perf_counter() - start_wall, time.process_time() - start_cpu
    log = [json.loads(line) for line in (out_dir / "log.jsonl").read_text().splitlines()]
    steps = [r for r in log if "loss" in r and "split" not in r]
    init = {seed: scores(init_checkpoint("biovil-t", "tiny", seed, out_dir / "tokenizer",
                                         runs / f"biovil-t-init-{seed}", text_model=text_model), world)
            for seed in seeds}
    trained = scores(checkpoint, world)
    print("trained", trained, flush=True)
    settings = get_recipe("biovil-t", "tiny").settings
    return {"init": init, "trained": trained, "steps": steps[-1]["step"], "batch_size": settings.batch_size,
            "wall_s": round(wall, 1), "train_cpu_s": steps[-1].get("cpu_s"), "process_cpu_s": round(cpu, 1),
            "loss_first": round(steps[0]["loss"], 3), "loss_last": round(steps[-1]["loss"], 3),
            "checkpoint": str(checkpoint), "text_model": text_model, "lock_text": lock_text}


def _fmt(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def targets(res: dict) -> dict[str, tuple[bool, str]]:
    t = res["trained"]
    init = {k: statistics.mean(r[k] for r in res["init"].values()) for k in t}
    out = {}
    for rows in ("", ", MIMIC test rows"):
        pair, alone = t[f"zero-shot, pair{rows}"], t[f"zero-shot, current only{rows}"]
        out[f"zero-shot pair > current only{rows}"] = (pair > alone, f"{pair:.3f} vs {alone:.3f}")
        out[f"zero-shot pair > init{rows}"] = (pair > init[f"zero-shot, pair{rows}"],
                                                f"{pair:.3f} vs {init[f'zero-shot, pair{rows}']:.3f}")
    if "ci" in res:  # beyond the CIs: the trained pair's lower bound above the baselines' upper bounds
        ci = res["ci"]
        for rows in ("", ", MIMIC test rows"):
            pair, alone = ci["trained"][f"zero-shot, pair{rows}"], ci["trained"][f"zero-shot, current only{rows}"]
            out[f"zero-shot pair > current only beyond the CIs{rows}"] = (
                pair[1] > alone[2], f"[{pair[1]:.3f}, {pair[2]:.3f}] vs [{alone[1]:.3f}, {alone[2]:.3f}]")
            top = max(c[f"zero-shot, pair{rows}"][2] for c in ci["init"].values())
            out[f"zero-shot pair > init beyond the CIs{rows}"] = (
                pair[1] > top, f"[{pair[1]:.3f}, {pair[2]:.3f}] vs init upper bounds ≤ {top:.3f}")
    pair, alone = t["probe, pair"], t["probe, current only"]
    out["probe pair > current only"] = (pair > alone, f"{pair:.3f} vs {alone:.3f}")
    out["probe pair > init"] = (pair > init["probe, pair"], f"{pair:.3f} vs {init['probe, pair']:.3f}")
    return out


def markdown(res: dict, world: Path, command: str) -> str:
    seeds = ", ".join(str(s) for s in res["init"])
    lines = ["# Proof of temporal learning (tiny BioViL-T on the toy world)", "",
             f"World: `{world}` (toy world, scale temporal, seed 0): MS-CXR-T rows of the toy world (all rows; and the "
             "rows whose current study is in MIMIC `test`, which no model trained on). Numbers: ms-cxr-t-cls macro "
             "accuracy (chance 1/3) and ms-cxr-t-sim ROC-AUC. Init = the same model at initialisation, mean ± sd over "
             f"seeds {seeds}; trained = seed {next(iter(res['init']))}. \"current only\" = the trained weights "
             "on the current image alone (BioViL-T's absent-prior path): the toy world draws the current image's "
             "finding at the same size whatever the label, so only the pair can tell.", "",
             "Recipe (tiny): " + "; ".join(get_recipe("biovil-t", "tiny").settings.notes) + ".", "",
             *([f"Text side: starts from `{res['text_model']}`"
                + (" (stage 1: `train --model cxr-bert --config tiny "
                   + " ".join(f"--{k} {v}" for k, v in res["text_stage"].items()) + "`)" if res.get("text_stage")
                   else "")
                + ("; locked (LiT, `--lock-text`): only the image side trains" if res.get("lock_text") else "")
                + ". Init = BioViL-T with that text side and a random image model.", ""]
               if res.get("text_model") else []),
             "| setting | init | trained |", "|---|---|---|"]
    for name in res["trained"]:
        lines.append(f"| {name} | {_fmt([r[name] for r in res['init'].values()])} | {_fmt([res['trained'][name]])} |")
    lines += ["", "| steps × batch | wall | training CPU | loss first → last |", "|---|---|---|---|",
              f"| {res['steps']} × {res['batch_size']} | {res['wall_s']:.0f} s | {res['train_cpu_s']} s | "
              f"{res['loss_first']} → {res['loss_last']} |", "", "| target | result |", "|---|---|"]
    lines += [f"| {name} | {'PASS' if ok else 'FAIL'} ({v}) |" for name, (ok, v) in targets(res).items()]
    if "ci" in res:
        seeds = " | ".join(f"init seed {k}" for k in res["ci"]["init"])
        lines += ["", f"95% bootstrap CIs ({res['ci']['n_bootstrap']} resamples of MS-CXR-T rows, seed 0), zero-shot "
                  "macro accuracy:", "", f"| setting | trained | {seeds} |",
                  "|---|---|" + "---|" * len(res["ci"]["init"])]
        cell = lambda v: f"{v[0]:.3f} [{v[1]:.3f}, {v[2]:.3f}]"  # noqa: E731
        for name in CI_SETTINGS:
            lines.append(f"| {name} | {cell(res['ci']['trained'][name])} | "
                         + " | ".join(cell(c[name]) for c in res["ci"]["init"].values()) + " |")
    lines += ["", f"Reproduce: `{command}`", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--world", type=Path, default=Path("/tmp/toy-temporal"))
    parser.add_argument("--runs", type=Path, default=Path("/tmp/proof-of-temporal-learning"))
    parser.add_argument("--init-seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--max-steps", type=int, default=None, help="default: the tiny recipe's")
    parser.add_argument("--text-model", default=None,
                        help="the text side's init (a cxr-bert run's checkpoint/); default: the recipe's")
    parser.add_argument("--pretrain-text", action="store_true",
                        help="first train the temporal CXR-BERT (RUNS/cxr-bert: progression-contrast batches, RSM "
                             "tau 0.1) and start BioViL-T's text side from it")
    parser.add_argument("--lock-text", action="store_true", help="LiT: BioViL-T's text tower is not trained")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--results", type=Path, default=RESULTS / "proof_of_temporal_learning.md")
    parser.add_argument("--bootstrap", type=int, default=1000, help="resamples of the zero-shot CIs")
    parser.add_argument("--cis-only", action="store_true", help="add the CIs to the existing --results .json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    ensure_world(args.world)
    if args.cis_only:
        res = json.loads(args.results.with_suffix(".json").read_text())
    else:
        text_model = pretrain_text(args.world, args.runs, args.init_seeds[0]) if args.pretrain_text else args.text_model
        res = run(args.world, args.runs, args.init_seeds, args.max_steps, text_model, args.lock_text)
        res["text_stage"] = TEXT_STAGE if args.pretrain_text else None
    add_intervals(res, args.world, args.runs, args.bootstrap)
    command = f"python benchmarks/proof_of_temporal_learning.py --world {args.world} --runs {args.runs}" + (
        f" --max-steps {args.max_steps}" if args.max_steps else "") + (
        f" --text-model {args.text_model}" if args.text_model else "") + (
        " --pretrain-text" if args.pretrain_text else "") + (" --lock-text" if args.lock_text else "")
    text = markdown(res, args.world, command)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(text)
    args.results.with_suffix(".json").write_text(json.dumps(res, indent=2) + "\n")
    print(text)


if __name__ == "__main__":
    main()
