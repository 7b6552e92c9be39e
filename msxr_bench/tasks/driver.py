"""The one driver of every task: capability gate, protocol and split, --limit, sample-id hash, the task's three
phases, bootstrap CIs, the dataset-text rule and the validated result record with its provenance.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any, Mapping, Sequence

from msxr_bench.adapters.base import IMAGE_CAPABILITIES
from msxr_bench.data.types import SkipReport
from msxr_bench.hashing import sample_ids_sha256
from msxr_bench.results import (
    SCHEMA_VERSION, AdapterMetaRecord, AdapterRecord, DatasetInfo, MainScore, ProtocolRecord, SkipRecord, TaskInfo, TaskResult,
    collect_provenance,
)
from msxr_bench.tasks.base import Loaded, Scored, Task
from msxr_bench.tasks.context import RunContext
from msxr_bench.tasks.spec import TaskParams, TaskSkipped, TaskSpec


class EmptySplitError(ValueError):
    """The chosen dataset/split has no sample to evaluate."""


class DatasetTextError(ValueError):
    """A task put dataset text into a row that is about to be written for sharing (a bug: refuse, never write)."""


def capability_gate(spec: TaskSpec, adapter: Any) -> None:
    """TaskSkipped naming what is missing when the adapter lacks a capability the task requires."""
    why = spec.lacking(adapter.capabilities)
    if why:
        needs = ", ".join(spec.requires) or " or ".join("+".join(o) for o in spec.requires_any)
        raise TaskSkipped(f"{adapter.meta.name} {why} ({spec.name} needs {needs})")


def apply_limit(samples: list, limit: int | None, what: str) -> list:
    """The first `limit` samples (dataset order); an empty result is a clear error naming `what`."""
    if limit is not None and limit < 1:
        raise ValueError(f"--limit must be a positive number of samples, got {limit}")
    if not samples:
        raise EmptySplitError(f"{what}: no samples to evaluate")
    return samples[:limit] if limit is not None else samples


def allowed_strings(spec: TaskSpec, field: str) -> Any:
    """What a string row field may hold ("id" or a collection of values), None when the task declares none."""
    if field in spec.row_strings:
        return spec.row_strings[field]
    for pattern, allowed in spec.row_strings.items():
        if pattern.endswith("*") and field.startswith(pattern[:-1]):
            return allowed
    return None


def free_text_fields(spec: TaskSpec, rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Row fields holding a string that the task does not declare as an id or a closed set of values: free text,
    which is refused in a shareable file (declared text fields included)."""
    bad: set[str] = set()
    for row in rows:
        for key, value in row.items():
            if isinstance(value, str):
                allowed = allowed_strings(spec, key)
                if allowed is None or (allowed != "id" and value not in allowed):
                    bad.add(key)
    return sorted(bad)


def signed_cnr_notes(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """A note when most maps point away from their boxes: the absolute CNR then flatters (any task with both)."""
    signed = [r["signed_cnr"] for r in rows if isinstance(r.get("signed_cnr"), (int, float))
              and isinstance(r.get("cnr"), (int, float)) and r["signed_cnr"] == r["signed_cnr"]]
    away = sum(1 for v in signed if v < 0)
    if signed and away > len(signed) / 2:
        return [f"the map is highest OUTSIDE the boxes for {away} of {len(signed)} samples (signed CNR < 0): the "
                "absolute CNR counts that as contrast and flatters this model; read the signed CNR"]
    return []


def skip_records(reports: Sequence[SkipReport]) -> list[SkipRecord]:
    return [SkipRecord(source=r.source, total=r.total, counts=dict(r.counts),
                       examples={k: list(v) for k, v in r.examples.items()}) for r in reports if r.total]


def run_task(task: Task, params: TaskParams, run: RunContext) -> TaskResult:
    """Run one task and return its validated result (nothing is written here)."""
    from msxr_bench.engine import prepare_adapter

    spec = task.spec
    started, t0 = datetime.now(timezone.utc), time.perf_counter()
    capability_gate(spec, run.adapter)
    protocol = spec.protocol(params.protocol)
    split = spec.resolve_split(protocol, params.split)
    loaded: Loaded = task.load(params, protocol, split, run.data_root)
    samples = apply_limit(loaded.samples, run.limit, f"{spec.dataset.name} {protocol.name} split {split!r}")
    run.adapter = prepare_adapter(run.adapter, run.runtime)
    scored: Scored = task.score(samples, loaded, params, run)
    if not scored.rows:
        raise ValueError(f"{spec.name}: no sample could be scored ({len(samples)} tried); see the skips: "
                         + "; ".join(r.summary() for r in loaded.skips + scored.skips if r.total))
    if set(spec.requires) & IMAGE_CAPABILITIES:
        scored.scoring.setdefault("image_decoding", run.image_decoding_record())
    stats = task.metrics(scored.rows, scored.scoring)
    metrics = {name: stat.metric(run.n_bootstrap, run.seed) for name, stat in stats.items()}
    rows = scored.rows
    if not run.keep_text:
        rows = [{k: v for k, v in row.items() if k not in spec.text_fields} for row in rows]
        leaked = free_text_fields(spec, rows)
        if leaked:
            raise DatasetTextError(f"{spec.name}: rows hold free text in {', '.join(leaked)}; refusing to write it")
    dataset = DatasetInfo(
        name=spec.dataset.name, version=loaded.dataset_version, split=loaded.split, split_scheme=loaded.split_scheme,
        sample_ids_sha256=sample_ids_sha256(loaded.ids[:len(samples)]), n_samples_available=len(loaded.samples),
        n_samples=len(samples), n_scored=len({str(r["sample_id"]) for r in rows}), limit=run.limit,
        files=loaded.files,
    )
    provenance = collect_provenance(
        device=str(run.runtime.device), device_name=run.runtime.device_name, precision=run.runtime.precision,
        autocast=run.runtime.autocast, seed=run.seed, batch_size=run.batch_size, num_workers=run.num_workers,
        started=started, wall_time_s=time.perf_counter() - t0, argv=run.argv,
    )
    return TaskResult(
        schema_version=SCHEMA_VERSION,
        task=TaskInfo(name=spec.name, version=spec.version, type=spec.type, description=spec.description,
                      main_score=spec.main_score),
        protocol=ProtocolRecord(name=loaded.protocol_name or protocol.name,
                                description=loaded.protocol_description or protocol.description,
                                origin=protocol.origin, split=split, definitions=dict(spec.definitions)),
        dataset=dataset, adapter=adapter_record(run), scoring={"parameters": _parameters(params, loaded),
                                                              **scored.scoring},
        main_score=MainScore(name=spec.main_score, value=metrics[spec.main_score].value), metrics=metrics,
        per_category=task.per_category(scored.rows) or [], row_key=list(spec.row_key),
        contains_dataset_text=run.keep_text and any(f in row for row in scored.rows for f in spec.text_fields),
        samples=rows, skipped=skip_records(loaded.skips + scored.skips),
        notes=scored.notes + signed_cnr_notes(scored.rows), provenance=provenance,
    )


def _parameters(params: TaskParams, loaded: Loaded) -> dict[str, Any]:
    """The typed parameters as recorded: a parameterised protocol by its recorded name (never a local path)."""
    out = params.model_dump(mode="json")
    if loaded.protocol_name:
        out["protocol"] = loaded.protocol_name
    return out


def adapter_record(run: RunContext) -> AdapterRecord:
    """Who the model is, as recorded: registry name, identity hash, options, capabilities, meta, geometry."""
    adapter = run.adapter
    geometry = getattr(adapter, "geometry", None)
    return AdapterRecord(name=run.adapter_name, identity=adapter.identity(), options=dict(run.adapter_options),
                         capabilities=sorted(adapter.capabilities), meta=AdapterMetaRecord(**adapter.meta.model_dump()),
                         geometry=geometry.to_dict() if geometry is not None else None,
                         max_text_tokens=getattr(adapter, "max_text_tokens", None),
                         remote=adapter.remote_record() if hasattr(adapter, "remote_record") else None)
