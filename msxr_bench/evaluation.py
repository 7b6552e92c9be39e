"""The Python facade: evaluate a model on tasks in one call (the CLI's `evaluate` is a thin shell around it).

    import msxr_bench
    results = msxr_bench.evaluate("biovil", tasks=["ms-cxr"], data_root="~/data",
                                  model_args={"checkpoint": "fixtures/models/tiny-biovil"})
    print(results["ms-cxr"]); results["ms-cxr"].to_dataframe()

Order of work: preflight (seconds, nothing built) -> runtime and model -> each task through the driver, its results
file written atomically as soon as it exists and `run.json` kept up to date -> the results, by task.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from msxr_bench.preflight import Plan, preflight
from msxr_bench.results import TaskResult, result_stem, write_result

if TYPE_CHECKING:
    from msxr_bench.adapters.base import EncoderAdapter


class EvaluationError(RuntimeError):
    """Some tasks failed; `results` holds those that ran (their files are written), `failures` task -> message."""

    def __init__(self, failures: dict[str, str], results: dict[str, TaskResult]) -> None:
        self.failures, self.results = failures, results
        super().__init__("; ".join(f"{t}: {m}" for t, m in failures.items()))


@dataclass
class Hooks:
    """What the CLI prints as the run goes (all optional)."""

    on_start: Callable[[str], None] = lambda task: None
    on_result: Callable[[TaskResult, Path | None], None] = lambda result, path: None
    on_skip: Callable[[str, str], None] = lambda task, why: None
    on_error: Callable[[str, Exception], None] = lambda task, exc: None


@dataclass
class RunOptions:
    """Run-wide options (every task shares them); task choices are `task_params`."""

    device: str = "auto"
    precision: str = "fp32"
    batch_size: int | None = None
    num_workers: int = 0
    limit: int | None = None
    seed: int = 0
    bootstrap: int = 1000
    cache_dir: Path | None = None
    save_heatmaps: int = 0
    truncate_long_phrases: bool = False
    keep_text: bool = False
    # DICOM acceptance: modalities accepted beside CR/DX ("any" = every modality), PALETTE COLOR images
    allow_modalities: tuple[str, ...] = ()
    allow_palette_color: bool = False
    progress: bool = True
    argv: list[str] | None = None

    def decode_options(self) -> dict[str, Any]:
        """Keywords of data.images.load_image for this run."""
        from msxr_bench.data.images import RADIOGRAPH_MODALITIES

        extra = tuple(m.upper() for m in self.allow_modalities)
        modalities = None if "ANY" in extra else tuple(dict.fromkeys(RADIOGRAPH_MODALITIES + extra))
        return {"allowed_modalities": modalities, "allow_palette_color": self.allow_palette_color}


def save_category_chart(result: TaskResult, metrics: Sequence[str], out_dir: Path) -> Path | None:
    """OUTPUT/<model>/<task>_categories.png: the per-category bars of `metrics` with their macro means."""
    if not metrics or not result.per_category:
        return None
    from msxr_bench.viz import save_category_bars

    macro = {n: result.metrics[f"{n}_macro"].value for n in metrics if f"{n}_macro" in result.metrics}
    return save_category_bars([r.model_dump() for r in result.per_category], metrics,
                              f"{result.task.name} — {result.adapter.name}", out_dir / f"{result.task.name}_categories.png",
                              macro)


def evaluate(model: "str | EncoderAdapter", tasks: Sequence[str], data_root: str | Path,
             model_args: Mapping[str, Any] | None = None, task_params: Mapping[str, Mapping[str, Any]] | None = None,
             device: str = "auto", output: str | Path | None = None, bootstrap: int = 1000, seed: int = 0,
             hooks: Hooks | None = None, **options: Any) -> dict[str, TaskResult]:
    """Run `tasks` on `model` (a registered adapter name, or an adapter you built) and return the results by task.

    `model_args` are the adapter's options (`--model-arg`), `task_params` = {task: {key: value}} its typed
    parameters (`--task-arg TASK.KEY=VALUE`; e.g. {"ms-cxr": {"protocol": "v1.1.0-test", "split": "test"}}).
    With `output`, results go to OUTPUT/<model>/<task>.json and run.json. Other keywords: see `RunOptions`.
    A task the model cannot run (missing capability) is skipped; failures raise EvaluationError after the other
    tasks ran (their results are kept)."""
    opts = RunOptions(device=device, bootstrap=bootstrap, seed=seed, **options)
    hooks = hooks or Hooks()
    plan = preflight(model, tasks, data_root, model_args, task_params, output)
    return _run(model, plan, Path(data_root).expanduser(), dict(model_args or {}), opts, hooks)


def _run(model: Any, plan: Plan, data_root: Path, model_args: dict, opts: RunOptions,
         hooks: Hooks) -> dict[str, TaskResult]:
    from msxr_bench.engine import distributed, resolve_runtime
    from msxr_bench.run_manifest import RunRecorder

    launch = distributed.from_environment()
    runtime = resolve_runtime(distributed.rank_device(opts.device, launch), opts.precision)
    adapter = _adapter(model, plan)
    name = model if isinstance(model, str) else adapter.meta.name
    distributed.start(launch, runtime.device)
    out_dir = plan.output / name if plan.output is not None and launch.is_main else None
    argv = list(sys.argv if opts.argv is None else opts.argv)
    recorder = RunRecorder(out_dir, argv, name, [p.spec.name for p in plan.tasks]) if out_dir else None
    run = _context(adapter, name, runtime, launch, data_root, model_args, opts, argv,
                   plan.output / name if plan.output is not None else None)
    results: dict[str, TaskResult] = {}
    failures: dict[str, str] = {}
    status = "completed"
    try:
        for planned in plan.tasks:
            outcome = _one_task(planned, run, hooks, recorder, out_dir)
            if isinstance(outcome, TaskResult):
                results[planned.spec.name] = outcome
            elif outcome is not None:
                failures[planned.spec.name] = outcome
        status = "failed" if failures else "completed"
    except BaseException as exc:  # Ctrl-C or an unexpected error: run.json says the run did not finish
        status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        raise
    finally:
        if recorder:
            recorder.finish(status)  # type: ignore[arg-type]
        distributed.stop()
    if failures:
        raise EvaluationError(failures, results)
    return results


def _adapter(model: Any, plan: Plan) -> "EncoderAdapter":
    from msxr_bench.adapters.base import check_adapter
    from msxr_bench.adapters.registry import build_adapter

    if not isinstance(model, str):
        return check_adapter(model, "given")
    if plan.session is not None:  # the remote worker preflight started (handshake checked): reuse it
        return build_adapter(model, session=plan.session)
    return build_adapter(model, **plan.model_options)


def _context(adapter, name: str, runtime, launch, data_root: Path, model_args: dict, opts: RunOptions,
             argv: list[str], out_dir: Path | None):
    from msxr_bench.engine import distributed
    from msxr_bench.tasks.context import RunContext

    cache = None
    if opts.cache_dir is not None:
        from msxr_bench.cache import EvalCache

        cache = EvalCache(opts.cache_dir)
    return RunContext(adapter=adapter, runtime=runtime, data_root=data_root, adapter_name=name,
                      adapter_options={k: str(v) for k, v in model_args.items()}, batch_size=opts.batch_size,
                      num_workers=opts.num_workers, limit=opts.limit, seed=opts.seed, n_bootstrap=opts.bootstrap,
                      truncate_long_phrases=opts.truncate_long_phrases, keep_text=opts.keep_text,
                      save_heatmaps=opts.save_heatmaps if out_dir else 0,
                      heatmap_dir=out_dir / "heatmaps" if out_dir else None, argv=argv,
                      rank=launch.rank, world_size=launch.world_size,
                      gather=distributed.gather if launch.distributed else None, cache=cache,
                      progress=opts.progress and launch.is_main, decode_options=opts.decode_options())


def _one_task(planned, run, hooks: Hooks, recorder, out_dir: Path | None) -> TaskResult | str | None:
    """The task's result, or its failure message, or None when it was skipped; its file and run.json written."""
    from msxr_bench.engine import profile
    from msxr_bench.tasks.driver import run_task
    from msxr_bench.tasks.spec import TaskSkipped

    task = planned.spec.name
    hooks.on_start(task)
    profile.reset()
    if recorder:
        recorder.set(task, "running")
    try:
        result = run_task(planned.spec.task(), planned.params, run)
    except TaskSkipped as exc:
        hooks.on_skip(task, str(exc))
        if recorder:
            recorder.set(task, "skipped", str(exc))
        return None
    except (ValueError, OSError, RuntimeError) as exc:  # data, configuration and model errors
        message = f"{type(exc).__name__}: {exc}"
        hooks.on_error(task, exc)
        if recorder:
            recorder.set(task, "failed", message)
        return message
    path = None
    if out_dir is not None:
        stem = result_stem(task, result.protocol.name, planned.spec.default_protocol.name)
        path = write_result(result, out_dir / f"{stem}.json")
        save_category_chart(result, planned.spec.chart_metrics, out_dir)
        if recorder:
            recorder.set(task, "completed", result=result, path=path)
    hooks.on_result(result, path)
    return result
