"""Every MS-CXR protocol is a leaderboard track of its own: its results files (named <task>@<protocol>.json) validate
against the protocol's canonical toy sample set, and heatmap and box models appear in one table per protocol."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters_for_tests import RandomCNNAdapter
from leaderboard_helpers import WORLD, _with_checksum, make_submission
from msxr_bench.adapters.centre_box import CentreBoxAdapter
from msxr_bench.evaluation import evaluate
from msxr_bench.leaderboard.board import BOARD, setting_key
from msxr_bench.leaderboard.build import leaderboard_tables

PROTOCOLS = ("v1.1.0-test", "chex")  # the other tracks' sample sets: test_leaderboard_board.py (same code path)


def _evaluate(adapter, tasks: tuple[str, ...], protocol: str, out: Path) -> Path:
    params = {t: {"protocol": protocol, "split": BOARD[setting_key(t, protocol)].run_split("toyworld")} for t in tasks}
    evaluate(adapter, tasks, WORLD, task_params=params, output=out, device="cpu", num_workers=0, progress=False,
             argv=["tests"], bootstrap=20)
    return out / adapter.meta.name


@pytest.fixture(scope="module")
def submissions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("board") / "submissions"
    runs = tmp_path_factory.mktemp("runs")
    cnn = RandomCNNAdapter(seed=0)
    heatmap = _with_checksum(cnn, list(cnn.body.state_dict().values()), "test-random-cnn")
    centre = CentreBoxAdapter()
    centre.meta = centre.meta.model_copy(update={"weights_sha256": "0" * 64})
    for protocol in PROTOCOLS:
        tasks = ("ms-cxr", "ms-cxr-boxes") if protocol == "v1.1.0-test" else ("ms-cxr-boxes",)
        run = _evaluate(heatmap, tasks, protocol, runs / protocol)
        make_submission(root, run, model="testorg/random-cnn", revision=protocol)
        run = _evaluate(centre, ("ms-cxr-boxes",), protocol, runs / protocol)
        make_submission(root, run, model="testorg/centre-box", revision=protocol,
                        weights={"source": "a fixed rule", "revision": "1", "sha256": "0" * 64})
    return root


def test_protocol_results_are_named_and_validated_per_track(submissions: Path) -> None:
    tables, report = leaderboard_tables(submissions)
    assert report.ok, [str(i) for i in report.issues]
    assert (submissions / "testorg__centre-box" / "chex" / "ms-cxr-boxes@chex.json").is_file()
    keys = sorted(setting_key(e.result.task.name, e.result.protocol.name) for e in report.entries)
    assert keys == sorted(["ms-cxr@v1.1.0-test"] + [f"ms-cxr-boxes@{p}" for p in PROTOCOLS for _ in range(2)])
    assert {e.track for e in report.entries} == {"toyworld"}


def test_heatmap_and_box_models_share_one_table_per_protocol(submissions: Path) -> None:
    tables, report = leaderboard_tables(submissions)
    by_key = {t.key: t for t in tables}
    for protocol in PROTOCOLS:
        table = by_key[f"protocol-{protocol}-toyworld"]
        rows = {row[0].text.split(" ")[0]: row for row in table.rows}
        assert set(rows) == {"test-random-cnn", "centre-box"}, protocol
        cnn, box = rows["test-random-cnn"], rows["centre-box"]
        assert cnn[-1].text == "heatmap (top-fraction@0.1)" and box[-1].text == "model's boxes"
        assert box[2].text == "n/a" and cnn[2].text != "n/a"  # CNR: not applicable to box-only output
        entry = next(e for e in report.entries if e.card.model == "testorg/centre-box" and e.card.revision == protocol)
        acc = entry.result.metrics["acc@0.5_micro"].value
        assert box[table.columns.index("Acc@0.5")].sort == acc
    assert "protocol-split-file" not in " ".join(by_key)  # a parameterised protocol has no canonical track


def test_a_protocol_file_under_the_wrong_name_is_refused(submissions: Path, tmp_path: Path) -> None:
    import shutil

    from msxr_bench.leaderboard.validate import validate_paths

    folder = shutil.copytree(submissions / "testorg__centre-box" / "chex", tmp_path / "testorg__centre-box" / "chex")
    (folder / "ms-cxr-boxes@chex.json").rename(folder / "ms-cxr-boxes.json")
    (folder / "run.json").unlink()
    issues = [str(i) for i in validate_paths([tmp_path]).issues]
    assert any("'ms-cxr-boxes@chex' (task and protocol) in a file named ms-cxr-boxes.json" in i for i in issues)
    data = json.loads((submissions / "testorg__centre-box" / "chex" / "ms-cxr-boxes@chex.json").read_text())
    assert data["protocol"]["name"] == "chex" and data["dataset"]["split_scheme"] == "chex"
