"""The results schema: the published JSON Schema is current, and validation rejects what it must."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from msxr_bench.adapters.base import AdapterMeta
from msxr_bench.results import AdapterMetaRecord, TaskResult, load_result, schema_text, write_result

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "schemas" / "results.schema.json"


def minimal() -> dict:
    return {
        "schema_version": "2.0.0",
        "task": {"name": "t", "version": "1.0.0", "type": "text-similarity", "description": "d", "main_score": "m"},
        "protocol": {"name": "p", "description": "d", "split": "test"},
        "dataset": {"name": "D", "version": "1", "split": "test", "sample_ids_sha256": "0" * 64,
                    "n_samples_available": 2, "n_samples": 2, "n_scored": 2},
        "adapter": {"name": "a", "identity": "x", "geometry": {"kind": "resize_crop"},
                    "meta": {"name": "a", "version": "1", "description": "d", "weights_source": "random",
                             "embedding_dim": 8, "licence": "MIT", "map_rescale": "none"}},
        "scoring": {"rule": "r"},
        "main_score": {"name": "m", "value": 0.5},
        "metrics": {"m": {"value": 0.5, "n": 2}},
        "samples": [{"sample_id": "s1", "v": 1.0}, {"sample_id": "s2", "v": float("nan")}],
        "provenance": {"harness_version": "0", "python": "3", "platform": "p", "packages": {}, "device": "cpu",
                       "device_name": "cpu", "precision": "fp32", "autocast": False, "seed": 0, "batch_size": 1,
                       "num_workers": 0, "started_at": "2020-01-01T00:00:00+00:00", "wall_time_s": 1.0,
                       "argv": ["msxr-bench"]},
    }


def test_published_schema_is_up_to_date() -> None:
    assert SCHEMA_FILE.read_text() == schema_text(), "run: python -m msxr_bench.results schemas/results.schema.json"


def test_adapter_meta_is_validated_on_creation() -> None:
    assert issubclass(AdapterMeta, AdapterMetaRecord)  # one field list for the contract and the results record
    with pytest.raises(ValueError, match="name"):
        AdapterMeta(version="1", weights_source="random")
    with pytest.raises(ValueError, match="map_rescale"):
        AdapterMeta(name="m", version="1", weights_source="random", map_rescale="zscore")


def test_round_trip_writes_nan_as_null(tmp_path: Path) -> None:
    path = write_result(TaskResult.model_validate(minimal()), tmp_path / "r.json")
    raw = json.loads(path.read_text())  # strict JSON: no NaN tokens
    assert raw["samples"][1]["v"] is None and raw["schema_version"] == "2.0.0"
    assert load_result(path).samples[0]["v"] == 1.0


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.update(extra_field=1), "extra_field"),
    (lambda d: d["metrics"]["m"].update(typo=1), "typo"),
    (lambda d: d["samples"].append({"sample_id": "s1"}), "duplicate row key"),
    (lambda d: d.update(row_key=["sample_id", "seed"]), "lacks the row key field"),
    (lambda d: d.pop("protocol"), "requires a protocol record"),
    (lambda d: d.pop("schema_version"), "schema_version"),
    (lambda d: d["samples"].append({"id": "s3"}), "no string 'sample_id'"),
    (lambda d: d.update(main_score={"name": "m", "value": 0.7}), "differs"),
    (lambda d: d.update(main_score={"name": "other", "value": 0.5}), "not among the metrics"),
    (lambda d: d["provenance"].update(precision="int8"), "precision"),
])
def test_invalid_results_are_rejected_with_the_reason(mutate, message: str, tmp_path: Path) -> None:
    data = minimal()
    mutate(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=message) as err:
        load_result(path)
    assert str(path) in str(err.value)


def test_nan_main_score_is_consistent() -> None:
    data = minimal()
    data["main_score"]["value"] = data["metrics"]["m"]["value"] = math.nan
    assert math.isnan(TaskResult.model_validate(data).main_score.value)


def test_composite_row_keys_allow_one_row_per_sample_and_seed() -> None:
    data = minimal()
    data["row_key"] = ["sample_id", "seed"]
    data["samples"] = [{"sample_id": "s1", "seed": 0}, {"sample_id": "s1", "seed": 1}]
    assert len(TaskResult.model_validate(data).samples) == 2
    data["samples"].append({"sample_id": "s1", "seed": 1})
    with pytest.raises(ValueError, match="duplicate row key"):
        TaskResult.model_validate(data)
