"""A paper's reproduction recipe as data (`recipes/<paper>.toml`): for each table cell, which published rows it
covers, the task, protocol, parameters and how each published metric is read from the results; the rows that
cannot be reproduced, each with its reason; which adapter plays each of the paper's methods by default.

The next paper is a data file, not code. No running here (`runner.py`) and no comparing (`verdict.py`).
"""

from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from msxr_bench.published.values import PublishedValue, published

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

RECIPES_DIR = Path(__file__).resolve().parent / "recipes"


class RecipeError(ValueError):
    """A recipe file that does not parse or does not fit its published values (the message names it)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RowMatch(_Strict):
    """Which published rows: every given field must match (`setting_prefix` / `method_in` for groups)."""

    table: str
    metric: str | None = None
    metric_in: tuple[str, ...] | None = None
    setting: str | None = None
    setting_prefix: str | None = None
    method_in: tuple[str, ...] | None = None

    def matches(self, v: PublishedValue) -> bool:
        return (v.table == self.table and (self.metric is None or v.metric == self.metric)
                and (self.metric_in is None or v.metric in self.metric_in)
                and (self.setting is None or v.setting == self.setting)
                and (self.setting_prefix is None or v.setting.startswith(self.setting_prefix))
                and (self.method_in is None or v.method in self.method_in))


class Measure(_Strict):
    """How one published metric is read from a result: a reported metric (`metric`), or a per-category column
    (`category`) with its macro metric for the paper's "Avg." (`average`); times `scale` (e.g. 100 for %)."""

    metric: str | None = None
    category: str | None = None
    average: str | None = None
    scale: float = 1.0


class Cell(_Strict):
    id: str
    title: str
    rows: RowMatch
    task: str
    params: dict[str, Any] = {}
    measure: dict[str, Measure]  # published metric name -> how to read it
    protocol_differs: str | None = None  # why the paper's protocol cannot be rebuilt (verdict "protocol differs")
    note: str | None = None


class Unmapped(_Strict):
    rows: RowMatch
    reason: str


class Recipe(_Strict):
    paper: str  # key of the published values (msxr_bench/published)
    title: str
    # the paper's method (its row label: "method / text encoder / objective") -> the adapter that plays it by default
    methods: dict[str, str] = {}
    cell: list[Cell] = Field(default_factory=list)
    unmapped: list[Unmapped] = Field(default_factory=list)

    def values(self) -> tuple[PublishedValue, ...]:
        return published(self.paper)

    def rows_of(self, cell: Cell) -> list[PublishedValue]:
        return [v for v in self.values() if cell.rows.matches(v)]

    def coverage(self) -> tuple[list[PublishedValue], list[PublishedValue]]:
        """(rows matched by no cell and no unmapped entry, rows matched more than once)."""
        loose, twice = [], []
        for v in self.values():
            hits = sum(c.rows.matches(v) for c in self.cell) + sum(u.rows.matches(v) for u in self.unmapped)
            (loose if hits == 0 else twice if hits > 1 else []).append(v)
        return loose, twice


def recipe_names() -> list[str]:
    return sorted(p.stem for p in RECIPES_DIR.glob("*.toml"))


@lru_cache(maxsize=None)
def load_recipe(name: str) -> Recipe:
    """The recipe `name` (a file of `recipes/`, or a path), checked: every cell's metrics exist in its rows."""
    path = Path(name) if name.endswith(".toml") else RECIPES_DIR / f"{name}.toml"
    if not path.is_file():
        raise RecipeError(f"no recipe {name!r}; recipes: {', '.join(recipe_names())}")
    try:
        recipe = Recipe.model_validate(tomllib.loads(path.read_text()))
    except (tomllib.TOMLDecodeError, ValidationError) as exc:
        raise RecipeError(f"{path}: {exc}") from None
    for cell in recipe.cell:
        rows = recipe.rows_of(cell)
        if not rows:
            raise RecipeError(f"{path}: cell {cell.id!r} matches no published row")
        missing = sorted({v.metric for v in rows} - set(cell.measure))
        if missing:
            raise RecipeError(f"{path}: cell {cell.id!r} does not say how to measure {', '.join(missing)}")
    return recipe
