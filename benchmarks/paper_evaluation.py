"""The `evaluate` and `report` steps of benchmarks/paper_systems.py (see its docstring)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures" / "models"
BOOT = 1000


def _metrics(result, names=None) -> dict:
    return {k: {"value": m.value, "ci": [m.ci.low, m.ci.high] if m.ci else None}
            for k, m in result.metrics.items() if names is None or k in names or any(k.startswith(n) for n in names)}


def _models(runs: Path, tmp: Path) -> dict[str, tuple[str, dict]]:
    from msxr_bench.training.recipes import init_checkpoint

    init = lambda model, tok, out: str(init_checkpoint(model, "tiny", 0, tok, tmp / out))  # noqa: E731
    return {
        "BioViL (tiny, fixture)": ("biovil", {"checkpoint": str(FIXTURES / "tiny-biovil")}),
        "BioViL (tiny, init)": ("biovil", {"checkpoint": init("biovil", FIXTURES / "tiny-biovil" / "text", "b0")}),
        "BioViL-L (tiny)": ("biovil-l", {"checkpoint": str(runs / "biovil-l" / "checkpoint")}),
        "Baseline (tiny CXR-BERT text model)": ("biovil", {"checkpoint": str(runs / "biovil-baseline" / "checkpoint")}),
        "SimCLR (tiny, fixture)": ("simclr", {"checkpoint": str(FIXTURES / "tiny-simclr")}),
        "SimCLR (tiny, init)": ("simclr", {"checkpoint": init("simclr", None, "s0")}),
        "CXR-BERT (tiny, fixture)": ("cxr-bert", {"text_model": str(FIXTURES / "tiny-cxr-bert")}),
        "CXR-BERT (tiny, init)": ("cxr-bert", {"text_model": init("cxr-bert", FIXTURES / "tiny-cxr-bert", "c0")}),
    }


def _previous(out: Path, report: dict) -> dict:
    """The model entries of an earlier `evaluate --include` run into the same JSON (same worlds and resamples)."""
    if not out.is_file():
        return {}
    old = json.loads(out.read_text())
    same = all(old.get(k) == report[k] for k in ("probe_world", "world", "bootstrap"))
    if not same:
        raise SystemExit(f"{out} was written with other worlds or bootstrap resamples; move it away or match them")
    return old.get("models", {})


def evaluate_all(probe_world: Path, world: Path, runs: Path, out: Path, bootstrap: int = BOOT,
                 include: list[str] | None = None) -> None:
    """Evaluate every model (or those whose label contains one of `include`), keeping the other models' entries
    already in `out` when its worlds and resamples match, so runs of subsets add up to one report."""
    import sys

    sys.path.insert(0, str(ROOT / "tests"))
    from msxr_bench.adapters.registry import build_adapter
    from msxr_bench.cache import EvalCache
    from msxr_bench.learning import learning_metrics
    from task_helpers import run_named

    torch.set_num_threads(1)
    cache = EvalCache(runs / "eval-cache")
    models = _models(runs, runs / "inits")
    report: dict = {"probe_world": str(probe_world), "world": str(world), "bootstrap": bootstrap, "models": {},
                    "training": {}, "fixture_training": {}}
    previous = _previous(out, report)
    for name in ("simclr", "cxr-bert", "biovil-l", "biovil-baseline"):
        summary = runs / name / "summary.json"
        if summary.is_file():
            report["training"][name] = json.loads(summary.read_text())
    for name in ("tiny-biovil", "tiny-simclr", "tiny-cxr-bert"):
        run_file = FIXTURES / name / "training_run.json"
        if run_file.is_file():
            run_record = json.loads(run_file.read_text())
            report["fixture_training"][name] = {k: run_record.get(k) for k in
                                                ("model", "max_steps", "batch_size", "data_root", "train_pairs")}
    for label, (kind, options) in models.items():
        if include and not any(part.lower() in label.lower() for part in include):
            if label in previous:
                report["models"][label] = previous[label]
            continue
        adapter = build_adapter(kind, **options)
        entry: dict = {"adapter": kind, "options": options}
        t0 = time.perf_counter()

        def run(task: str, root: Path = probe_world, **params):
            return run_named(task, params, adapter=adapter, data_root=root, n_bootstrap=bootstrap, batch_size=32,
                             cache=cache)

        if kind in ("biovil", "biovil-l"):
            entry["zero_shot"] = _metrics(run("rsna-cls", prompt_sweep="paper"))
            entry["probe_prompt"] = _metrics(run("rsna-cls-probe"))
            entry["seg_zero_shot"] = _metrics(run("rsna-seg"))
            entry["seg_probe_prompt"] = _metrics(run("rsna-seg-probe"))
            entry["grounding"] = learning_metrics(kind, Path(options["checkpoint"]), world, [])
        if kind in ("biovil", "simclr"):
            entry["probe_classic"] = _metrics(run("rsna-cls-probe", probe="classic"))
            entry["seg_probe_classic"] = _metrics(run("rsna-seg-probe", probe="classic"))
        if kind in ("biovil", "biovil-l", "cxr-bert"):
            entry["text_intrinsics"] = _metrics(run("text-intrinsics", world))
        entry["seconds"] = round(time.perf_counter() - t0, 1)
        report["models"][label] = entry
        print(label, entry["seconds"], flush=True)
        out.write_text(json.dumps(report, indent=1) + "\n")
    if not report["models"]:
        raise SystemExit(f"--include {include} names none of {list(models)}")
    out.write_text(json.dumps(report, indent=1) + "\n")
    write_report(out)


def _cell(metrics: dict | None, name: str, digits: int = 3) -> str:
    if not metrics or name not in metrics or metrics[name]["value"] is None:
        return "–"
    m = metrics[name]
    ci = m["ci"]
    return f"{m['value']:.{digits}f}" + (f" [{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]" if ci and ci[0] is not None
                                         else "")


def write_report(path: Path) -> None:
    data = json.loads(path.read_text())
    models = data["models"]
    lines = ["# The BioViL paper's systems and protocols on the toy world (issue 16)", "",
             f"Probe world: toy world at the `probe` scale, seed 0 (1,000 RSNA 256-px images, faint opacities; "
             f"gloria split 700 / 150 / 150). MS-CXR grounding and text-intrinsics: the `small` world (`validate` "
             f"reports). 95% CIs: percentile bootstrap over test images (reports), {data['bootstrap']} resamples; "
             "probe metrics are means over seeds 0, 1, 2 (seg: seed 0). Reproduce: `python benchmarks/paper_systems.py "
             "train ...` then `evaluate ...` (commands in its docstring).", "",
             "## RSNA classification (Table 6 / A.2): AUROC on test", "",
             "| model | zero-shot | probe | 1% | 10% | 100% |", "|---|---|---|---|---|---|"]
    for label, e in models.items():
        for probe in ("probe_prompt", "probe_classic"):
            if probe in e:
                lines.append(f"| {label} | {_cell(e.get('zero_shot'), 'auroc')} | {probe.split('_')[1]} | "
                             + " | ".join(_cell(e[probe], f"auroc[{f}]") for f in ("1%", "10%", "100%")) + " |")
    lines += ["", "A zero-shot AUROC below 0.5 means the prompt scores rank the negatives above the positives.",
              "", "F1 at the F1-maximising test threshold (the paper's, optimistic) / at the val-chosen threshold, 100%:",
              "", "| model | probe | F1@f1max | F1@val | sensitivity@val | specificity@val |", "|---|---|---|---|---|---|"]
    for label, e in models.items():
        for probe in ("probe_prompt", "probe_classic"):
            if probe in e:
                lines.append(f"| {label} | {probe.split('_')[1]} | " + " | ".join(
                    _cell(e[probe], f"{m}[100%]") for m in ("f1@f1max", "f1@val", "sensitivity@val",
                                                            "specificity@val")) + " |")
    lines += ["", "## RSNA segmentation (Table 7): Dice at 0.6 on test positives (maps min-max scaled to [0, 1])", "",
              "| model | zero-shot Dice | probe | Dice 5% | Dice 100% | signed CNR 100% |", "|---|---|---|---|---|---|"]
    for label, e in models.items():
        for probe in ("seg_probe_prompt", "seg_probe_classic"):
            if probe in e:
                lines.append(f"| {label} | {_cell(e.get('seg_zero_shot'), 'dice')} | {probe.split('_')[2]} | "
                             f"{_cell(e[probe], 'dice[5%]')} | {_cell(e[probe], 'dice[100%]')} | "
                             f"{_cell(e[probe], 'signed_cnr[100%]')} |")
    from msxr_bench.tasks.rsna.sweep import PAPER_SWEEP

    lines += ["", "## Prompt sensitivity (Table A.1): zero-shot AUROC per prompt pair", "",
              "`suggesting_vs_no_evidence` is the default pair (the zero-shot column above). ΔAUROC: the pair's AUROC "
              "minus its reference pair's on the same test images (paired bootstrap CI), for the two pairs the paper "
              "compares.", "", "| model | pair | AUROC | F1@f1max | reference pair | ΔAUROC |",
              "|---|---|---|---|---|---|"]
    for label, e in models.items():
        zs = e.get("zero_shot") or {}
        for p in PAPER_SWEEP:
            if f"auroc[{p.name}]" in zs:
                lines.append(f"| {label} | {p.name} | {_cell(zs, f'auroc[{p.name}]')} | "
                             f"{_cell(zs, f'f1@f1max[{p.name}]')} | {p.reference or '–'} | "
                             f"{_cell(zs, f'delta_auroc[{p.name}]')} |")
    lines += ["", "## Text intrinsics (Table 3): small world, `validate` reports", "",
              "| model | masked-token accuracy | most-frequent token | tokens / words per Findings | vocabulary |",
              "|---|---|---|---|---|"]
    for label, e in models.items():
        t = e.get("text_intrinsics")
        if t:
            lines.append(f"| {label} | {_cell(t, 'masked_token_accuracy')} | {_cell(t, 'most_frequent_token_accuracy')}"
                         f" | {t['avg_tokens_findings']['value']:.1f} / {t['avg_words_findings']['value']:.1f} "
                         f"(+{t['token_increase_percent']['value']:.1f}%) | {t['vocabulary_size']['value']:.0f} |")
    lines += ["", "## Training (tiny configs on the small world, 1 CPU thread)", "",
              "| recipe | steps | loss (first 20 → last 20 steps) | validation loss | wall |", "|---|---|---|---|---|"]
    for name, t in data["training"].items():
        lines.append(f"| {name} | {t['steps']} | {t['loss_first20']:.3f} → {t['loss_last20']:.3f} | "
                     f"{' → '.join(f'{v:.3f}' for v in t['val_loss'][::max(1, len(t['val_loss']) - 1)])} | "
                     f"{t['wall_s']:.0f} s |")
    for name, t in data.get("fixture_training", {}).items():
        lines.append(f"| {t['model']} (committed fixture `{name}`) | {t['max_steps']} (batch {t['batch_size']}) | "
                     f"log not committed (trained on `{t['data_root']}`) | – | – |")
    grounding = [(label, e["grounding"]) for label, e in models.items() if "grounding" in e]
    lines += ["", "MS-CXR grounding of the image-text models (small world, v0.1 all pairs):", "",
              "| model | macro CNR | signed CNR | right − wrong gap | mIoU |", "|---|---|---|---|---|"]
    lines += [f"| {label} | {g['cnr']:.3f} | {g['signed_cnr']:.3f} | {g['phrase_gap']:.3f} | {g['miou']:.3f} |"
              for label, g in grounding]
    path.with_suffix(".md").write_text("\n".join(lines) + "\n")
