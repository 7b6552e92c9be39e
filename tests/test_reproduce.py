"""`msxr-bench reproduce`: the verdict rule on synthetic values whose verdicts are known, every published row mapped
to a cell or listed with its reason, models assigned to the paper's methods, and an end-to-end run on the toy world."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from msxr_bench.cli import main
from msxr_bench.published.values import published
from msxr_bench.reproduce.plan import assign_models
from msxr_bench.reproduce.recipe import load_recipe, recipe_names
from msxr_bench.reproduce.verdict import RULE, judge

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "fixtures" / "models" / "tiny-biovil"


def _value(printed: str, spread: str = ""):
    base = next(v for v in published("boecking2022") if v.table == "Table 5" and v.category == "macro_avg")
    number = float(printed)
    decimals = len(printed.split(".")[1]) if "." in printed else 0
    return dataclasses.replace(base, printed=printed, number=number, decimals=decimals,
                               spread=float(spread) if spread else None, spread_printed=spread)


@pytest.mark.parametrize("printed, spread, measured, ci, expected", [
    ("1.027", "", 1.0274, None, "agrees"),             # within half a unit of the last printed digit (0.0005)
    ("1.027", "", 1.0280, None, "differs"),            # beyond it, no CI, no spread
    ("1.027", "0.02", 1.046, None, "agrees"),          # within the paper's ± spread
    ("1.027", "0.02", 1.048, None, "differs"),
    ("1.027", "", 1.100, (0.95, 1.25), "agrees"),      # within half the measured CI's width (0.15)
    ("1.027", "", 1.200, (1.15, 1.25), "differs"),     # a narrow CI far away
    ("0.70", "", 0.7049, None, "agrees"),              # two printed decimals: half a unit is 0.005
    ("0.70", "", 0.7051, None, "differs"),
])
def test_the_verdict_rule(printed, spread, measured, ci, expected) -> None:
    got = judge(_value(printed, spread), "m", measured, ci)
    assert got.verdict == expected, (got.diff, got.tolerance)
    assert "half a unit of the paper's last printed digit" in RULE


def test_protocol_differs_and_not_run_are_never_judged() -> None:
    v = _value("1.027")
    assert judge(v, "m", 5.0, None, protocol_differs="9,006 test images").verdict == "protocol differs"
    missing = judge(v, "", None, None, not_run="no model given")
    assert (missing.verdict, missing.reason, missing.diff) == ("not run", "no model given", None)


@pytest.mark.parametrize("name", recipe_names())
def test_every_published_row_is_mapped_or_explained(name: str) -> None:
    recipe = load_recipe(name)
    loose, twice = recipe.coverage()
    assert loose == [] and twice == [], ([(v.table, v.row_label, v.metric) for v in loose + twice])
    assert all(u.reason for u in recipe.unmapped) and all(recipe.rows_of(c) for c in recipe.cell)


def test_models_are_assigned_to_the_papers_methods() -> None:
    recipe = load_recipe("boecking2022")
    chosen = assign_models(recipe, ["biovil", "Baseline / ClinicalBERT / Global=biovil"],
                           ["biovil:checkpoint=A", "Baseline / ClinicalBERT / Global:checkpoint=B"])
    assert chosen["BioViL / CXR-BERT / Global"].options == (("checkpoint", "A"),)
    assert chosen["Baseline / ClinicalBERT / Global"].options == (("checkpoint", "B"),)
    assert chosen["Baseline / ClinicalBERT / Global"].label == "biovil as Baseline / ClinicalBERT / Global"
    with pytest.raises(ValueError, match="no method 'Nope'"):
        assign_models(recipe, ["Nope=biovil"], [])


def test_reproduce_on_the_toy_world_writes_the_report(toyworld_root: Path, tmp_path: Path) -> None:
    args = ["reproduce", "bannur2023", "--data-root", str(toyworld_root), "--model", "biovil", "--model-arg",
            f"checkpoint={TINY}", "--bootstrap", "50", "--num-workers", "0", "--output", str(tmp_path / "r")]
    plan = CliRunner().invoke(main, [*args, "--plan"])
    assert plan.exit_code == 0 and "1 evaluation(s) to run" in plan.output and "45 samples" in plan.output
    assert not (tmp_path / "r").exists()  # --plan runs nothing
    ran = CliRunner().invoke(main, args)
    assert ran.exit_code == 0, ran.output
    md = (tmp_path / "r" / "report.md").read_text()
    measured = json.loads(next((tmp_path / "r" / "runs").glob("ms-cxr--biovil--*/biovil/ms-cxr.json")).read_text())
    cnr = measured["metrics"]["cnr_macro"]
    row = next(line for line in md.splitlines() if line.startswith("| BioViL / CXR-BERT / Global (biovil)")
               and "mscxr_cnr" in line)
    assert f"{cnr['value']:.4g} [{cnr['ci']['low']:.4g}, {cnr['ci']['high']:.4g}]" in row and "1.07 ± 0.04" in row
    assert "not run: no model given for 'BioViL-T / CXR-BERT / Global & temporal'" in md
    assert "toy world" in md and (tmp_path / "r" / "report.png").stat().st_size > 10_000
    assert "<table>" in (tmp_path / "r" / "report.html").read_text()
