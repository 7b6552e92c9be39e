"""`msxr-bench compare BASELINE CANDIDATE`: paired regression check of two runs (thin; see `msxr_bench.compare`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

EPILOG = """\b
Examples:
  msxr-bench compare results/v1.2/biovil/ms-cxr.json results/v1.3/biovil/ms-cxr.json
  msxr-bench compare results/v1.2/biovil results/v1.3/biovil --metric all --min-effect 0.02

\b
BASELINE and CANDIDATE are results files or `evaluate` output folders (paired by task name). They must be
the same task and version on the same split and sample set; rows are paired by sample_id. Each metric is
recomputed from the rows as the task computes it and the difference gets a seeded paired bootstrap
(stratified by category for MS-CXR, as the task's CIs are).
Exit status: 0 no significant regression; 1 a metric is significantly worse (one-sided p < alpha) by more
than --min-effect; 2 invalid or mismatched input.
"""


@click.command("compare", epilog=EPILOG)
@click.argument("baseline", type=click.Path(path_type=Path))
@click.argument("candidate", type=click.Path(path_type=Path))
@click.option("--metric", "metrics", multiple=True, metavar="NAME",
              help="Metric to compare, repeatable; 'all' = every metric. Default: each task's main score.")
@click.option("--alpha", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.05,
              show_default=True, help="Significance level (one-sided test for 'worse'; CI level 1 - alpha).")
@click.option("--min-effect", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Smallest drop that counts as a regression, in the metric's units.")
@click.option("--n-resamples", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Paired bootstrap resamples.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the paired bootstrap.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the comparisons as JSON (for CI artefacts).")
def compare_cmd(baseline: Path, candidate: Path, metrics: tuple[str, ...], alpha: float, min_effect: float,
                n_resamples: int, seed: int, json_out: Path | None) -> None:
    """Compare a candidate run against a baseline run, sample by sample; exit 1 on a significant regression."""
    from msxr_bench.compare import CompareInputError, compare_paths, format_comparisons

    try:
        rows = compare_paths(baseline, candidate, list(metrics) or None, alpha=alpha, min_effect=min_effect,
                             n_resamples=n_resamples, seed=seed)
    except CompareInputError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    click.echo(format_comparisons(rows, alpha))
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps({"baseline": str(baseline), "candidate": str(candidate), "alpha": alpha,
                                        "min_effect": min_effect, "n_resamples": n_resamples, "seed": seed,
                                        "comparisons": [r.to_dict() for r in rows]}, indent=1, allow_nan=False) + "\n")
    worse = [f"{r.task} {r.metric}" for r in rows if r.verdict == "worse"]
    if worse:
        click.echo(f"REGRESSION: {', '.join(worse)} significantly worse (alpha {alpha}, min effect {min_effect})",
                   err=True)
        sys.exit(1)
    click.echo("no significant regression", err=True)
