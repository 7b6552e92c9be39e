"""The figures of bench_end_to_end.py: ratios against the targets, where the time goes, as Markdown."""

from __future__ import annotations

import json
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path

import torch

MAIN_STAGES = ("wait", "forward", "texts", "maps", "metrics", "embedding write")  # the main process's own time
WORKER_STAGES = ("hash", "decode", "resize", "cache read", "pixel write")  # in workers, beside the main process
TARGETS = {"b/a": 1.10, "c/b": 1.3, "uncached/warm": 10.0}


def load_average() -> tuple[float, float, float]:
    return os.getloadavg()


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


@dataclass
class Report:
    args: object
    load_before: tuple[float, float, float]
    limit: list[dict] = field(default_factory=list)
    task: list[tuple[float, dict, dict]] = field(default_factory=list)
    cold: tuple | None = None
    warm: tuple | None = None
    same_results: bool | None = None
    official: dict | None = None
    maps: dict | None = None
    load_after: tuple[float, float, float] | None = None

    @staticmethod
    def results_equal(a: Path, b: Path) -> bool:
        """Metrics, per-category rows and per-sample rows of two results files are identical."""
        ra, rb = json.loads(a.read_text()), json.loads(b.read_text())
        return all(ra[k] == rb[k] for k in ("metrics", "per_category", "samples", "skipped", "main_score"))

    def ratios(self) -> dict[str, float]:
        a = min(t["limit"] for t in self.limit)
        b = min(t[0] for t in self.task)
        out = {"b/a": b / a}
        if self.official:
            out["c/b"] = self.official["total_s"] / b
        if self.warm:
            out["uncached/warm"] = b / self.warm[0]
        return out

    def render(self, data: dict) -> str:
        args, n, pairs = self.args, data["images"], data["pairs"]
        best_a = min(self.limit, key=lambda t: t["limit"])
        wall, stages, tallies = min(self.task, key=lambda t: t[0])
        size_mb = sum(p.stat().st_size for p in data["paths"]) / len(data["paths"]) / 1e6
        phrases = len({s for _, s in data["pairs_list"]})
        lines = [
            "# End-to-end benchmark: ms-cxr with BioViL on CPU",
            "",
            f"Machine: {os.cpu_count()} cores ({cpu_name()}), shared; torch {torch.__version__}, "
            f"{args.threads} intra-op threads. Load average (1/5/15 min) before: "
            f"{'/'.join(f'{x:.2f}' for x in self.load_before)}, after: "
            f"{'/'.join(f'{x:.2f}' for x in self.load_after or self.load_before)}.",
            f"Data: {n} synthetic 2544x3056 JPEGs (quality 95, {size_mb:.1f} MB each), {pairs} (image, phrase) pairs, "
            f"{phrases} unique phrases (MS-CXR's phrases-per-image ratio). BioViL: random weights in the released "
            "formats (ResNet-50 `.pt`, BERT-base-sized CXR-BERT). Batch size "
            f"{args.batch_size}, {args.workers} DataLoader workers, {args.bootstrap} bootstrap resamples; "
            f"best of {len(self.task)} alternating runs of (a) and (b).",
            "",
            "| | seconds | per image |",
            "|---|---:|---:|",
        ]
        for key in ("decode", "resize", "forward (batch 1)", "forward (batched)", "limit"):
            label = "**(a) limit** = decode + resize + faster forward" if key == "limit" else f"(a) {key}"
            lines.append(f"| {label} | {best_a[key]:.2f} | {best_a[key] / n:.3f} |")
        lines.append(f"| **(b) evaluate --task ms-cxr** | {wall:.2f} | {wall / n:.3f} |")
        if self.official:
            o = self.official
            lines.append(f"| **(c) official loop** ({pairs} calls, {o['total_s'] / pairs:.3f} s per call) | "
                         f"{o['total_s']:.2f} | {o['total_s'] / n:.3f} |")
        if self.cold and self.warm:
            lines.append(f"| (d) with --cache-dir, cold (fills the cache) | {self.cold[0]:.2f} | {self.cold[0] / n:.3f} |")
            lines.append(f"| **(d) with --cache-dir, warm** | {self.warm[0]:.2f} | {self.warm[0] / n:.3f} |")
        lines += ["", "Ratios (target):", ""]
        for name, value in self.ratios().items():
            ok = value <= TARGETS[name] if name == "b/a" else value >= TARGETS[name]
            bound = "<=" if name == "b/a" else ">="
            lines.append(f"- {name} = **{value:.3f}** (target {bound} {TARGETS[name]}): {'met' if ok else 'NOT met'}")
        lines += ["", "Where (b)'s time goes (main process; worker stages ran beside it):", ""]
        main = {k: stages.get(k, 0.0) for k in MAIN_STAGES if k in stages}
        lines.append("- main: " + ", ".join(f"{k} {v:.2f} s" for k, v in main.items())
                     + f", other (annotations, bootstrap, JSON, worker start-up) {wall - sum(main.values()):.2f} s")
        lines.append("- workers: " + ", ".join(f"{k} {stages[k]:.2f} s" for k in WORKER_STAGES if k in stages))
        lines.append("- counts: " + ", ".join(f"{k} {v}" for k, v in sorted(tallies.items())))
        if self.warm:
            lines.append("- warm cache run: " + ", ".join(f"{k} {v:.2f} s" for k, v in self.warm[1].items())
                         + "; " + ", ".join(f"{k} {v}" for k, v in sorted(self.warm[2].items())))
            lines.append(f"- results with and without the cache identical (metrics, categories, samples): "
                         f"{self.same_results}")
        if self.official:
            lines += ["", "Where (c)'s time goes: " + ", ".join(f"{k} {v:.2f} s" for k, v in
                                                              self.official["steps_s"].items())]
        if self.maps:
            m = self.maps
            lines.append(f"Maps of all {m['pairs']} pairs vs the official ones: max |difference| "
                         f"{m['max_abs_diff']:.2e}, NaN masks identical: {m['nan_masks_equal']}.")
        lines += ["", "Command: `python benchmarks/bench_end_to_end.py " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()
            if k in ("images", "threads", "workers", "batch_size", "bootstrap", "repeats")) + "`"]
        return "\n".join(lines)
