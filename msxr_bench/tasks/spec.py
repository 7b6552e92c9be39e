"""What a task is, as data (torch-free): its dataset and protocols, main score, required adapter capabilities and
typed parameters. The behaviour lives in the class named by `implementation` (a `tasks.base.Task`).

A protocol is a named, recorded choice of release plus split rule (MS-CXR "v0.1-all", RSNA "gloria" ...); a
split is a part within it. Parameters are pydantic models, so `--task-arg TASK.KEY=VALUE`, the Python facade's
`task_params` and `preflight` all validate against the same declaration.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from pydantic import BaseModel, ConfigDict, ValidationError

if TYPE_CHECKING:
    from msxr_bench.tasks.base import Task


class TaskSkipped(RuntimeError):
    """The task cannot run with this adapter (e.g. grounding without patch embeddings); not a failure."""


class TaskParamsError(ValueError):
    """A task parameter (`--task-arg`, `--split`, `--protocol`) that the task does not have or cannot take."""


class TaskParams(BaseModel):
    """Parameters every task has; each task extends it with its own (`extra="forbid"`: a typo is an error)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    protocol: str | None = None  # None = the task's default protocol
    split: str | None = None  # None = the protocol's default split


@dataclass(frozen=True)
class ProtocolSpec:
    """A release plus a split rule, by name: which samples a number is computed on."""

    name: str
    description: str
    dataset_version: str
    splits: tuple[str, ...]  # accepted values of --split within this protocol ("all" = every sample)
    default_split: str
    origin: str = ""  # who uses it / where it comes from
    split_aliases: Mapping[str, str] = field(default_factory=dict)  # e.g. "valid" -> "val"
    ranked: bool = False  # the leaderboard has a track for it
    # a parameterised protocol is named "NAME:VALUE" on the command line (e.g. "split-file:PATH"); `parameter`
    # says what VALUE is, `argument` holds it once bound (the task records a name that does not hold it)
    parameter: str = ""
    argument: str | None = None

    @property
    def rule(self) -> str:
        """The protocol's name without its argument ("split-file" of "split-file:ids.csv")."""
        return self.name.partition(":")[0]

    def bind(self, argument: str) -> "ProtocolSpec":
        """This parameterised protocol with its argument (a TaskParamsError when it takes none or gets none)."""
        if not self.parameter:
            raise TaskParamsError(f"protocol {self.name!r} takes no argument (got {argument!r})")
        if not argument.strip():
            raise TaskParamsError(f"protocol {self.name!r} needs an argument: {self.name}:{self.parameter}")
        return replace(self, name=f"{self.name}:{argument.strip()}", argument=argument.strip())


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    reference: str


@dataclass(frozen=True)
class TaskSpec:
    name: str
    description: str
    version: str  # bump on any change that can move a number
    type: str
    dataset: DatasetSpec
    protocols: tuple[ProtocolSpec, ...]
    main_score: str
    metrics: tuple[str, ...]  # the metrics every run reports (a run may add e.g. one per seed)
    definitions: Mapping[str, str]  # what each reported quantity means (recorded in every result)
    params: type[TaskParams]
    implementation: str  # "module:Class" of the tasks.base.Task subclass
    # "module:function" (torch-free) taking (data_root, protocol, split) and returning the files the task reads,
    # raising DatasetFormatError naming what is missing: preflight checks them before any model is built
    locate: str = ""
    requires: tuple[str, ...] = ()  # adapter capabilities without which the task is skipped
    # alternatives: the adapter needs every capability of at least one of these sets (e.g. boxes, or patches+text)
    requires_any: tuple[tuple[str, ...], ...] = ()
    row_key: tuple[str, ...] = ("sample_id",)  # what identifies a per-sample row (unique per file)
    # string columns of a row and what they may hold: "id" (a dataset id), or the allowed values (a name ending in
    # "*" covers every column with that prefix); any other string in a row is free text and is refused
    row_strings: Mapping[str, Any] = field(default_factory=lambda: {"sample_id": "id"})
    # row fields that hold dataset text, written only with --keep-text (and the file then says so)
    text_fields: tuple[str, ...] = ()
    chart_metrics: tuple[str, ...] = ()  # per-category columns drawn as bars beside the results file
    # earlier versions whose rows give the same metrics through this version's `metrics` (files still validate)
    compatible_versions: tuple[str, ...] = ()

    @property
    def default_protocol(self) -> ProtocolSpec:
        return self.protocols[0]

    def lacking(self, capabilities: Any) -> str | None:
        """Why an adapter with `capabilities` cannot run this task, or None when it can."""
        caps = set(capabilities)
        missing = [c for c in self.requires if c not in caps]
        if missing:
            return f"lacks {', '.join(missing)}"
        if self.requires_any and not any(set(option) <= caps for option in self.requires_any):
            return "has none of " + " / ".join("+".join(option) for option in self.requires_any)
        return None

    def protocol(self, name: str | None) -> ProtocolSpec:
        """The protocol called `name` (None = the default; "NAME:VALUE" binds a parameterised one); a
        did-you-mean error otherwise."""
        if name is None:
            return self.default_protocol
        for p in self.protocols:
            if p.name == name:
                return p
        head, colon, argument = name.partition(":")
        for p in self.protocols:
            if colon and p.name == head:
                return p.bind(argument)
        known = [f"{p.name}:{p.parameter}" if p.parameter else p.name for p in self.protocols]
        close = difflib.get_close_matches(name, known, 1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise TaskParamsError(f"{self.name}: unknown protocol {name!r}{hint}; protocols: {', '.join(known)}")

    def resolve_split(self, protocol: ProtocolSpec, split: str | None) -> str:
        """The split of `protocol` that `split` names (aliases accepted; None = the protocol's default)."""
        if split is None:
            return protocol.default_split
        name = protocol.split_aliases.get(split.strip().lower(), split.strip().lower())
        if name not in protocol.splits:
            raise TaskParamsError(f"{self.name}: unknown split {split!r} for protocol {protocol.name!r}; "
                                  f"splits: {', '.join(protocol.splits)}")
        return name

    def make_params(self, values: Mapping[str, Any] | TaskParams | None = None) -> TaskParams:
        """Typed parameters from a mapping (validated: unknown keys and wrong types are TaskParamsError)."""
        if isinstance(values, self.params):
            return values
        try:
            return self.params.model_validate(dict(values or {}))
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors())
            known = ", ".join(self.params.model_fields)
            raise TaskParamsError(f"{self.name}: {problems} (parameters: {known})") from None

    def locate_files(self, data_root: Path, protocol: ProtocolSpec, split: str) -> list[Path]:
        """The files this task would read under `data_root` (a DatasetFormatError names what is missing)."""
        if not self.locate:
            return []
        module, _, attr = self.locate.partition(":")
        return list(getattr(importlib.import_module(module), attr)(Path(data_root), protocol, split))

    def task(self) -> "Task":
        """An instance of the implementation (imports it: torch and the task's code load here)."""
        module, _, attr = self.implementation.partition(":")
        return getattr(importlib.import_module(module), attr)(self)
