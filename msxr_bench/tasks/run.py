"""Run one task and write its outputs: OUTPUT/<model>/<task>.json (+ a per-category bar chart for ms-cxr)."""

from __future__ import annotations

from pathlib import Path

from msxr_bench.results import TaskResult, write_result
from msxr_bench.tasks.spec import EvalContext, TaskSpec

BAR_METRICS = {"ms-cxr": ("cnr", "signed_cnr", "miou", "phrase_gap")}


def evaluate_task(spec: TaskSpec, ctx: EvalContext, out_dir: Path | None = None) -> tuple[TaskResult, Path | None]:
    """Run `spec` in `ctx`; with `out_dir`, write `<out_dir>/<task>.json` (validated) and the bar chart."""
    result = spec.run(ctx)
    if out_dir is None:
        return result, None
    path = write_result(result, Path(out_dir) / f"{spec.name}.json")
    if spec.name in BAR_METRICS and result.per_category:
        from msxr_bench.viz import save_category_bars

        names = BAR_METRICS[spec.name]
        macro = {n: result.metrics[f"{n}_macro"].value for n in names}
        save_category_bars([r.model_dump() for r in result.per_category], names,
                           f"{spec.name} — {ctx.adapter_name}", Path(out_dir) / f"{spec.name}_categories.png", macro)
    return result, path
