"""Diagnosis of the proof of temporal learning: does a BioViL-T checkpoint's text encoder tell the progression
prompts of ms-cxr-t-cls apart? Prints (and writes) the cosine between the improving / stable / worsening prompts of
each finding, for the trained checkpoint and an init. Cosines near 1 = the prompts score every image alike.

    python benchmarks/temporal_prompt_cosines.py --checkpoints trained=/tmp/potl3/runs/biovil-t/checkpoint \\
        init-0=/tmp/potl3/runs/biovil-t-init-0
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from msxr_bench.adapters.registry import build_adapter
from msxr_bench.tasks.temporal.spec import DEFAULT_PROMPTS

RESULTS = Path(__file__).resolve().parent / "results" / "temporal_prompt_cosines.md"
PAIRS = (("improving", "stable"), ("improving", "worsening"), ("stable", "worsening"))


def cosines(checkpoint: str) -> dict[str, list[float]]:
    adapter = build_adapter("biovil-t", checkpoint=checkpoint)
    out = {}
    with torch.no_grad():
        for finding, prompts in DEFAULT_PROMPTS.items():
            t = dict(zip(prompts, adapter.encode_texts(list(prompts.values()))))
            out[finding] = [float(t[a] @ t[b]) for a, b in PAIRS]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoints", nargs="+", required=True, help="NAME=PATH")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(1)
    lines = ["# Cosine between the ms-cxr-t-cls prompts of one finding (BioViL-T text encoder)", "",
             "| checkpoint | finding | " + " | ".join(f"{a} vs {b}" for a, b in PAIRS) + " |", "|---|---|---|---|---|"]
    for item in args.checkpoints:
        name, path = item.split("=", 1)
        for finding, values in cosines(path).items():
            lines.append(f"| {name} | {finding} | " + " | ".join(f"{v:.3f}" for v in values) + " |")
    command = f"python benchmarks/temporal_prompt_cosines.py --checkpoints {' '.join(args.checkpoints)}"
    lines += ["", f"Reproduce: `{command}`", ""]
    args.results.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
