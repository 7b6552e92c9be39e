"""`model.json` of a leaderboard submission: which adapter (package, version, entry point) and which weights
(source, revision, sha256) produced the results beside it, what the model was trained on (MIMIC-CXR overlap
flag), licence and contact. Data only: nothing here imports or runs the submitted adapter.

Layout: `leaderboard/submissions/<org>__<model>/<revision>/{model.json, <task>.json, ...}`.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MODEL_SCHEMA_VERSION = "1.0.0"
NAME_PART = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"
MODEL_ID = re.compile(rf"^{NAME_PART}/{NAME_PART}$")
REVISION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
ENTRY_POINT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$")
RELATIVE_PATH = re.compile(r"^(?!/)(?!.*(^|/)\.\.(/|$))[A-Za-z0-9_.+/-]{1,200}$")
MODULE = r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*"
WORKER_ENTRY = re.compile(rf"^({MODULE}|[A-Za-z0-9_./-]+\.py):[A-Za-z_][A-Za-z0-9_]*$")
LOCK_NAMES = re.compile(r"^(requirements[A-Za-z0-9_.-]*\.txt|pylock(\.[A-Za-z0-9_-]+)?\.toml|uv\.lock|poetry\.lock|"
                        r"conda-lock\.ya?ml)$")
MIMIC_WORDS = ("mimic-cxr", "mimic cxr", "mimic_cxr", "ms-cxr")
SYNTHETIC_WORDS = ("toy world", "toyworld", "synthetic")  # "synthetic MIMIC-CXR layout" is not MIMIC-CXR


def names_mimic_cxr(dataset: str) -> bool:
    """Whether a training-dataset name says MIMIC-CXR (or MS-CXR) data, not a synthetic look-alike."""
    text = dataset.lower()
    return any(w in text for w in MIMIC_WORDS) and not any(w in text for w in SYNTHETIC_WORDS)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class AdapterSource(_Strict):
    name: str = Field(min_length=1, description="the name given to --model (built-in or entry-point name)")
    package: str = Field(min_length=1, description="the distribution that provides it (msxr-bench for built-ins)")
    version: str = Field(min_length=1, description="that package's version")
    entry_point: str | None = Field(None, description="'module:attr' under msxr_bench.adapters; null for built-ins")

    @field_validator("entry_point")
    @classmethod
    def _entry_point(cls, v: str | None) -> str | None:
        if v is not None and not ENTRY_POINT.match(v):
            raise ValueError(f"must look like 'package.module:factory', got {v!r}")
        return v


class WeightsSource(_Strict):
    source: str = Field(min_length=1, description="where the weights come from (hub id, URL, path in this repo)")
    revision: str = Field(min_length=1, description="pinned revision (hub commit, tag, release)")
    sha256: str = Field(description="sha256 of the weights file the results record (adapter.meta.weights_sha256)")

    @field_validator("sha256")
    @classmethod
    def _sha(cls, v: str) -> str:
        if not SHA256.match(v):
            raise ValueError("must be 64 lowercase hex digits")
        return v


class EnvironmentSource(_Strict):
    """The model's own Python environment, for a model run by the `remote` adapter (docs/remote-adapters.md):
    a lock file (or requirements pinned with hashes) inside the submission folder, and the worker entry."""

    lock_file: str = Field(description="path inside the submission folder: requirements*.txt with --hash pins, "
                                       "pylock.toml, uv.lock, poetry.lock or conda-lock.yml")
    python: str = Field(pattern=r"^3\.\d{1,2}$", description="the interpreter's version, e.g. '3.11'")
    entry: str = Field(description="the worker entry: 'package.module:callable' or 'file.py:callable' (a path "
                                   "inside the submission folder)")

    @field_validator("lock_file")
    @classmethod
    def _lock_file(cls, v: str) -> str:
        if not RELATIVE_PATH.match(v) or not LOCK_NAMES.match(v.rsplit("/", 1)[-1]):
            raise ValueError("must be a relative path inside the submission folder (no '..') to requirements*.txt, "
                             f"pylock.toml, uv.lock, poetry.lock or conda-lock.yml, got {v!r}")
        return v

    @field_validator("entry")
    @classmethod
    def _entry(cls, v: str) -> str:
        if not WORKER_ENTRY.match(v) or v.startswith("/") or "/../" in f"/{v}":
            raise ValueError(f"must look like 'package.module:callable' or 'relative/file.py:callable', got {v!r}")
        return v


def environment_problems(env: EnvironmentSource, folder: Path) -> list[str]:
    """What is wrong with the environment files of a submission folder: the lock file must be there, and a
    requirements file must pin every requirement with a sha256 hash."""
    path = folder / env.lock_file
    if path.is_symlink() or not path.is_file():
        return [f"environment.lock_file {env.lock_file} is not a file of the submission folder"]
    if not path.name.endswith(".txt"):
        return []
    logical = path.read_text(errors="replace").replace("\\\n", " ").splitlines()
    unpinned = [line.split()[0] for line in logical
                if line.strip() and not line.lstrip().startswith(("#", "-")) and "--hash=sha256:" not in line]
    return [f"environment.lock_file {env.lock_file}: requirements without --hash=sha256: {', '.join(unpinned[:5])}"
            ] if unpinned else []


class TrainingData(_Strict):
    datasets: list[str] = Field(min_length=1, description="every dataset the weights saw, pre-training included")
    mimic_cxr_overlap: bool = Field(description="true when training used MIMIC-CXR images or reports "
                                                "(MS-CXR images are MIMIC-CXR images)")
    note: str | None = None

    @model_validator(mode="after")
    def _flag_consistent(self) -> "TrainingData":
        named = [d for d in self.datasets if names_mimic_cxr(d)]
        if named and not self.mimic_cxr_overlap:
            raise ValueError(f"datasets name MIMIC-CXR ({', '.join(named)}) but mimic_cxr_overlap is false")
        return self


class ModelCard(_Strict):
    schema_version: Literal["1.0.0"] = MODEL_SCHEMA_VERSION
    model: str = Field(description="'org/model'; the folder is '<org>__<model>'")
    revision: str = Field(description="the model revision submitted; the folder below the model folder")
    display_name: str = Field(min_length=1, max_length=80)
    description: str = Field(min_length=1, max_length=500)
    adapter: AdapterSource
    weights: WeightsSource
    training: TrainingData
    licence: str = Field(min_length=1)
    contact: str = Field(min_length=3, description="e-mail, GitHub handle or URL of the person answering questions")
    paper: str | None = None
    environment: EnvironmentSource | None = Field(None, description="required for the `remote` adapter: the "
                                                                    "model's own environment and worker entry")

    @model_validator(mode="after")
    def _environment_for_remote(self) -> "ModelCard":
        if (self.adapter.name == "remote") != (self.environment is not None):
            raise ValueError("a model run by the `remote` adapter names its `environment` (and only such a model)")
        return self

    @field_validator("model")
    @classmethod
    def _model_id(cls, v: str) -> str:
        if not MODEL_ID.match(v):
            raise ValueError(f"must be 'org/model' (letters, digits, '_', '.', '-'), got {v!r}")
        return v

    @field_validator("revision")
    @classmethod
    def _revision(cls, v: str) -> str:
        if not REVISION.match(v):
            raise ValueError(f"must be a short revision (letters, digits, '_', '.', '+', '-'), got {v!r}")
        return v

    @property
    def folder(self) -> str:
        """`<org>__<model>`, the name of the model's folder under submissions/."""
        org, name = self.model.split("/")
        return f"{org}__{name}"


def model_card_schema() -> dict:
    schema = ModelCard.model_json_schema()
    schema["$id"] = f"https://msxr-bench/schemas/model-{MODEL_SCHEMA_VERSION}.json"
    schema["title"] = "msxr-bench leaderboard model card (model.json)"
    return schema


if __name__ == "__main__":  # python -m msxr_bench.leaderboard.submission [PATH]: the JSON Schema of model.json
    text = json.dumps(model_card_schema(), indent=2, sort_keys=True) + "\n"
    if len(sys.argv) > 1:
        Path(sys.argv[1]).write_text(text)
    else:
        sys.stdout.write(text)
