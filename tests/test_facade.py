"""The Python facade (`msxr_bench.evaluate`): the README's three lines, the CLI's numbers, run.json, atomic files,
skips that can fail CI, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

import msxr_bench
from msxr_bench.cli import main
from msxr_bench.results import load_result
from msxr_bench.run_manifest import check_run_folder, read_manifest
from subprocess_signals import default_sigint

CKPT = Path(__file__).resolve().parents[1] / "fixtures" / "models" / "tiny-biovil"
FAST = ["--num-workers", "0", "--bootstrap", "50", "--limit", "12"]


def test_the_readme_snippet_gives_the_clis_numbers(toyworld_root: Path, tmp_path: Path) -> None:
    r = msxr_bench.evaluate("biovil", tasks=["ms-cxr"], data_root=toyworld_root,
                            model_args={"checkpoint": str(CKPT)}, bootstrap=50, limit=12, progress=False)
    text = str(r["ms-cxr"])
    assert "ms-cxr v1.1.0 | biovil | MS-CXR 0.1 protocol v0.1-all split=all | n=12" in text
    assert "cnr_macro" in text and any(line.startswith("macro ") for line in text.splitlines())
    frame = r["ms-cxr"].to_dataframe()
    assert len(frame) == 12 and {"sample_id", "cnr", "signed_cnr", "phrase_gap"} <= set(frame.columns)
    assert "phrase" not in frame.columns  # ids only
    ran = CliRunner().invoke(main, ["evaluate", "--model", "biovil", "--model-arg", f"checkpoint={CKPT}", "--task",
                                    "ms-cxr", "--data-root", str(toyworld_root), "--output", str(tmp_path), *FAST])
    assert ran.exit_code == 0, ran.output
    cli = load_result(tmp_path / "biovil" / "ms-cxr.json")
    assert cli.metrics == r["ms-cxr"].metrics and cli.samples == r["ms-cxr"].samples


def test_run_json_records_each_task_and_ties_files_to_the_run(toyworld_root: Path, tmp_path: Path,
                                                              test_adapters) -> None:
    args = ["evaluate", "--model", "test-global-only", "--task", "ms-cxr", "--task", "rsna-cls", "--task", "radnli-zs",
            "--split", "rsna-cls=all", "--data-root", str(toyworld_root), "--output", str(tmp_path), *FAST]
    ran = CliRunner().invoke(main, args)
    assert ran.exit_code == 0, ran.output
    folder = tmp_path / "test-global-only"
    manifest = read_manifest(folder)
    assert manifest.status == "completed" and manifest.command and manifest.model == "test-global-only"
    assert {t: e.status for t, e in manifest.tasks.items()} == {
        "ms-cxr": "skipped", "rsna-cls": "completed", "radnli-zs": "completed"}
    files = [folder / "radnli-zs.json", folder / "rsna-cls.json"]
    assert check_run_folder(folder, files) == []
    # a file left from another configuration is flagged; so is an edited one
    older = load_result(files[0]).model_copy(update={"notes": ["an older run"]})
    files[0].write_text(older.model_dump_json())
    assert any("differs from what run" in p for p in check_run_folder(folder, files))
    (folder / "rsna-seg.json").write_text(files[1].read_text())
    assert any("not written by the run" in p for p in check_run_folder(folder, [*files, folder / "rsna-seg.json"]))
    assert not list(folder.glob(".*.tmp"))  # atomic writes leave no temporary file


def test_skips_are_summarised_and_can_fail_ci(toyworld_root: Path, tmp_path: Path, test_adapters) -> None:
    import shutil

    root = tmp_path / "data"
    shutil.copytree(toyworld_root / "rsna-pneumonia", root / "rsna-pneumonia")
    images = sorted((root / "rsna-pneumonia" / "stage_2_train_images").glob("*.dcm"))
    images[0].write_bytes(images[0].read_bytes()[:600])  # truncated: one unreadable image
    base = ["evaluate", "--model", "test-random-cnn", "--task", "rsna-cls", "--split", "all", "--data-root", str(root),
            "--output", str(tmp_path / "out"), "--num-workers", "0", "--bootstrap", "0"]
    ran = CliRunner().invoke(main, base)
    assert ran.exit_code == 0, ran.output
    assert "skipped 1" in ran.output and images[0].stem in ran.output  # count, reason and the first ids
    assert CliRunner().invoke(main, [*base, "--max-skipped", "1"]).exit_code == 0
    strict = CliRunner().invoke(main, [*base, "--strict"])
    assert strict.exit_code == 1 and "too many skipped samples (--max-skipped 0): rsna-cls 1" in strict.output


def test_ctrl_c_prints_one_line_and_marks_the_run(toyworld_root: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "msxr_bench", "evaluate", "--model", "biovil", "--model-arg",
                             f"checkpoint={CKPT}", "--task", "rsna-cls", "--task", "ms-cxr", "--split", "rsna-cls=all",
                             "--data-root", str(toyworld_root), "--output", str(tmp_path), "--num-workers", "2",
                             "--bootstrap", "200000"], stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env=env, preexec_fn=default_sigint)
    deadline, manifest_path = time.monotonic() + 300, tmp_path / "biovil" / "run.json"
    while time.monotonic() < deadline and proc.poll() is None:  # until rsna-cls is running (model built)
        if manifest_path.is_file() and '"running"' in manifest_path.read_text():
            break
        time.sleep(0.2)
    time.sleep(2)  # inside the first task (200,000 bootstrap resamples keep it busy ~7 s, 20,000 did not under load)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (proc.returncode, err[-3000:])
    assert "Traceback" not in err and err.count("interrupted:") == 1, err
    manifest = json.loads((tmp_path / "biovil" / "run.json").read_text())
    assert manifest["status"] == "interrupted"
    assert manifest["tasks"]["ms-cxr"]["status"] == "interrupted"


def test_dicom_policy_reaches_the_decoder_and_is_recorded(toyworld_root: Path, tmp_path: Path, test_adapters) -> None:
    import shutil

    import pydicom

    root = tmp_path / "world"
    shutil.copytree(toyworld_root / "rsna-pneumonia", root / "rsna-pneumonia")
    first = sorted((root / "rsna-pneumonia" / "stage_2_train_images").glob("*.dcm"))[0]
    ds = pydicom.dcmread(first)
    ds.Modality = "CT"
    ds.save_as(first)

    def run(**options):
        r = msxr_bench.evaluate("test-global-only", ["rsna-cls"], root, bootstrap=0, progress=False,
                                task_params={"rsna-cls": {"split": "all"}}, **options)["rsna-cls"]
        return r, sum(s.counts.get("unsupported modality", 0) for s in r.skipped)

    default, refused = run()
    assert refused == 1 and default.scoring["image_decoding"] == {
        "allowed_modalities": ["CR", "DX"], "allow_palette_color": False}
    allowed, refused = run(allow_modalities=("ct",), allow_palette_color=True)
    assert refused == 0 and allowed.dataset.n_scored == default.dataset.n_scored + 1
    assert allowed.scoring["image_decoding"] == {"allowed_modalities": ["CR", "CT", "DX"], "allow_palette_color": True}
    anything, _ = run(allow_modalities=("any",))
    assert anything.scoring["image_decoding"]["allowed_modalities"] is None
