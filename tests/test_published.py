"""Published values: parsed apart from their printed extras, with the precision they were printed with; every row
of the shipped BioViL table reads; the printed averages that are not the mean of their categories are found."""

from __future__ import annotations

import csv

import pytest

from msxr_bench.published.values import PAPERS_DIR, parse_printed, printed_average_checks, published


@pytest.mark.parametrize("text, number, extras, decimals", [
    ("78.98 (+38.15%)", 78.98, "(+38.15%)", 2),
    ("28,996", 28996.0, "", 0),
    (".657", 0.657, "", 3),
    ("0.70", 0.70, "", 2),
    ("53.30", 53.30, "", 2),
])
def test_printed_values_parse_apart_from_their_extras(text, number, extras, decimals) -> None:
    assert parse_printed(text) == (pytest.approx(number), extras, decimals)


def test_every_row_of_the_shipped_tables_reads() -> None:
    with open(PAPERS_DIR / "boecking2022_biovil_tables.csv", newline="") as fh:
        n_rows = sum(1 for _ in csv.DictReader(fh))
    values = published("boecking2022")
    assert len(values) == n_rows == 281
    tokens = next(v for v in values if v.metric == "avg_tokens_after_tokenization" and v.method == "ClinicalBERT")
    assert (tokens.number, tokens.extras, tokens.half_unit) == (78.98, "(+38.15%)", pytest.approx(0.005))
    cnr = next(v for v in values if v.table == "Table 5" and v.method == "BioViL" and v.category == "macro_avg")
    assert (cnr.number, cnr.spread, cnr.trained_on_mimic_cxr) == (1.027, 0.02, True)


def test_printed_averages_that_are_not_the_mean_of_their_categories() -> None:
    found = {(c.row, c.printed.printed): round(c.mean_of_categories, 3) for c in printed_average_checks()}
    assert found == {("Baseline / PubMedBERT / Global", "0.225"): 0.229, ("ConVIRT / ClinicalBERT / Global", "0.238"):
                     0.232, ("GLoRIA / ClinicalBERT / Global & local", "0.246"): 0.238}  # as the folder's README says
