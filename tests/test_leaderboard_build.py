"""`leaderboard build`: Markdown and HTML tables from validated submissions, measured rows per data track,
the papers' numbers apart with their sources; the HTML sorts by clicked column in headless Chromium."""

from __future__ import annotations

import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from leaderboard_helpers import make_submission, oracle_runs, weighed_run
from msxr_bench.cli.leaderboard_cmd import leaderboard_group
from msxr_bench.leaderboard.board import MAIN
from msxr_bench.leaderboard.render_md import BEGIN, END
from msxr_bench.published.values import published
from msxr_bench.leaderboard.tables import mean_ranks

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def submissions(tmp_path: Path) -> Path:
    root = tmp_path / "leaderboard" / "submissions"
    make_submission(root, weighed_run())
    make_submission(root, oracle_runs()[0].parent, model="testorg/box-oracle",
                    training={"datasets": ["MIMIC-CXR 2.0.0"], "mimic_cxr_overlap": True})
    return root


def build(submissions: Path, *extra: str) -> tuple[int, str]:
    out = CliRunner().invoke(leaderboard_group, ["build", "--submissions", str(submissions),
                                                 "--output", str(submissions.parent / "README.md"),
                                                 "--html", str(submissions.parent / "index.html"), *extra])
    return out.exit_code, out.output


def test_markdown_tables_fill_the_readme_block(submissions: Path) -> None:
    readme = submissions.parent / "README.md"
    readme.write_text(f"# How to submit\n\nhand-written text\n\n{BEGIN}\nold table\n{END}\n\nfooter text\n")
    code, text = build(submissions)
    assert code == 0, text
    md = readme.read_text()
    assert md.startswith("# How to submit\n\nhand-written text\n") and md.endswith(f"{END}\n\nfooter text\n")
    assert "old table" not in md and "Do not edit by hand" in md
    toy = md.split("### Measured — toy world")[1].split("###")[0]
    cnr = json.loads((weighed_run() / "ms-cxr.json").read_text())["metrics"]["cnr_macro"]
    signed = json.loads((weighed_run() / "ms-cxr.json").read_text())["metrics"]["signed_cnr_macro"]["value"]
    assert (f"{cnr['value']:.3f}<br><sub>[{cnr['ci']['low']:.3f}, {cnr['ci']['high']:.3f}] signed {signed:.3f}</sub>"
            in toy)  # the absolute CNR never stands alone
    lines = [ln for ln in toy.splitlines() if ln.startswith("| 1 ") or ln.startswith("| 2 ")]
    assert "oracle (tests) ⚠" in lines[0] and f"1.00<br><sub>1 of {len(MAIN)} tasks" in lines[0]  # MIMIC marker
    # the CNN: 2nd on ms-cxr, alone (1st) on the 5 other tasks it can run (no text encoder to fine-tune for radnli)
    assert "test-random-cnn (tests)](submissions/testorg__random-cnn/v1)" in lines[1]
    assert f"{(2 + 1 + 1 + 1 + 1 + 1) / 6:.2f}<br><sub>6 of {len(MAIN)} tasks" in lines[1]
    assert "No validated submissions on this data yet." in md.split("### Measured — real data")[1].split("###")[0]
    assert "### MS-CXR CNR per category — toy world" in md


def test_every_published_number_is_shown_apart_with_its_spread(submissions: Path) -> None:
    code, _ = build(submissions)
    md = (submissions.parent / "README.md").read_text()
    reported = md.split("### Reported in paper", 1)[1]
    assert "### Measured" not in reported
    values = published()
    for v in values:  # each value of the shipped tables appears in its table's row, with the paper's ±
        section = md.split(f"### Reported in paper — {v.paper}, {v.table}\n")[1].split("###")[0]
        cell = v.printed + (f" ± {v.spread_printed}" if v.spread_printed else "")
        assert any(ln.startswith(f"| {v.row_label}") and f" {cell}" in ln for ln in section.splitlines()), v
    table5 = reported.split("Table 5\n")[1].split("###")[0]
    assert "| Method | Atelectasis | Cardiomegaly |" in table5 and "Avg. |" in table5
    assert "| BioViL / CXR-BERT / Global ⚠ | 1.02 ± 0.06 |" in table5
    a4 = reported.split("Table A.4 (ECCV) / A.3 (arXiv)\n")[1].split("###")[0]
    assert "0.246 ‡" in a4 and "0.238 ‡" in a4 and "0.225 ‡" in a4 and "0.266 ‡" not in a4  # printed Avg. flagged
    assert "CNR 1.027, mIoU 0.266; BioViL-T paper: CNR 1.07 ± 0.04" in reported  # both papers' BioViL, labelled


def test_mean_rank_over_the_tasks_a_model_has() -> None:
    scores = {"a": {"t1": 0.9, "t2": 0.1, "t3": None}, "b": {"t1": 0.5, "t2": 0.1, "t3": 0.7},
              "c": {"t1": 0.1, "t2": 0.3, "t3": 0.8}}
    ranks = mean_ranks(scores, ["t1", "t2", "t3"])
    assert ranks["a"] == (pytest.approx((1 + 2.5) / 2), 2)  # tied second place on t2 shares rank 2.5
    assert ranks["b"] == (pytest.approx((2 + 2.5 + 2) / 3), 3)
    assert ranks["c"] == (pytest.approx((3 + 1 + 1) / 3), 3)


def test_nothing_is_built_from_an_invalid_submission(submissions: Path) -> None:
    path = next(submissions.rglob("ms-cxr.json"))
    data = json.loads(path.read_text())
    data["metrics"]["cnr_macro"]["value"] += 1
    data["main_score"]["value"] += 1
    path.write_text(json.dumps(data))
    code, text = build(submissions)
    assert code == 1 and "metrics.cnr_macro.value" in text
    assert not (submissions.parent / "README.md").exists() and not (submissions.parent / "index.html").exists()


class _Tables(HTMLParser):
    """data-sort of every body cell, per section id."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, list[list[str]]] = {}
        self.section = ""
        self.in_body = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        if tag == "section":
            self.section = a.get("id", "")
        elif tag == "tbody":
            self.in_body = True
        elif tag == "tr" and self.in_body:
            self.rows.setdefault(self.section, []).append([])
        elif tag == "td" and self.in_body:
            self.rows[self.section][-1].append(a.get("data-sort", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "tbody":
            self.in_body = False


CLICKS = """<script>
const click = (id, title) => [...document.querySelectorAll(`#${id} th`)].find(h => h.textContent === title).click();
const column = (id, k) => [...document.querySelectorAll(`#${id} tbody tr`)].map(r => r.cells[k].dataset.sort);
click('reported-2', 'Avg.');
document.body.dataset.once = JSON.stringify(column('reported-2', 9));
click('reported-2', 'Avg.');
click('measured-toyworld', 'RSNA zero-shot AUROC');
</script></body>"""


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian package 'chromium')")
def test_html_columns_sort_when_clicked_in_chromium(submissions: Path, tmp_path: Path) -> None:
    code, text = build(submissions)
    assert code == 0, text
    page = (submissions.parent / "index.html").read_text()
    assert "Do not edit by hand" in page and "<script src" not in page and "<link" not in page  # self-contained
    scripted = submissions.parent / "clicked.html"
    scripted.write_text(page.replace("</body>", CLICKS))
    profile = f"--user-data-dir={tmp_path / 'chromium-profile'}"  # not the shared one: concurrent runs
    dom = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", profile, "--dump-dom",
                          scripted.as_uri()], capture_output=True, text=True, timeout=60).stdout
    parser = _Tables()
    parser.feed(dom)
    once = json.loads(dom.split('data-once="', 1)[1].split('"', 1)[0].replace("&quot;", '"'))
    values = [float(v) for v in once]
    assert values == sorted(values, reverse=True) and len(values) == 6  # Table 5 (CNR), first click: highest first
    twice = [float(row[9]) for row in parser.rows["reported-2"]]
    assert twice == sorted(values)  # second click: reversed
    auroc = [row[4] for row in parser.rows["measured-toyworld"]]
    assert auroc[-1] == "" and auroc[0] != ""  # the model without an AUROC sorts last


REPO_BOARD = Path(__file__).resolve().parents[1] / "leaderboard"


def test_committed_leaderboard_validates_and_is_up_to_date(tmp_path: Path) -> None:
    copy = shutil.copytree(REPO_BOARD, tmp_path / "leaderboard")
    code, text = build(copy / "submissions")  # validates every committed submission, then rewrites both files
    assert code == 0, text
    for name in ("README.md", "index.html"):
        assert (copy / name).read_text() == (REPO_BOARD / name).read_text(), \
            f"leaderboard/{name} is stale: run `msxr-bench leaderboard build`"


def test_padchest_gr_table_puts_heatmap_and_box_models_side_by_side() -> None:
    from msxr_bench.leaderboard.build import leaderboard_tables

    tables, report = leaderboard_tables(REPO_BOARD / "submissions")
    assert report.ok, [str(i) for i in report.issues]
    table = {t.key: t for t in tables}["padchest-gr-toyworld"]
    entries = {e.card.model: e for e in report.entries if e.result.task.name == "padchest-gr"}
    acc = [row[3].sort for row in table.rows]
    assert acc == sorted(acc, reverse=True) and len(acc) == len(entries) == 2
    assert sorted(acc) == sorted(e.result.metrics["acc@0.5_micro"].value for e in entries.values())
    sources = {row[-1].text for row in table.rows}
    assert sources == {"model's boxes", "heatmap (top-fraction@0.1)"}


def test_committed_toy_entries_are_the_committed_fixtures() -> None:
    """The toy entries' weights are the fixtures in this repository (the box model's backbone is a link)."""
    from msxr_bench.adapters.registry import build_adapter

    models = REPO_BOARD.parent / "fixtures" / "models"
    for folder, name, options in (
            ("msxr-bench__tiny-biovil-toyworld/fixture-seed0-1200steps", "biovil",
             {"checkpoint": str(models / "tiny-biovil")}),
            ("msxr-bench__tiny-biovil-boxes-toyworld/fixture-seed1-400steps", "biovil-boxes",
             {"checkpoint": str(models / "tiny-biovil-boxes")})):
        card = json.loads((REPO_BOARD / "submissions" / folder / "model.json").read_text())
        assert build_adapter(name, **options).meta.weights_sha256 == card["weights"]["sha256"], folder
