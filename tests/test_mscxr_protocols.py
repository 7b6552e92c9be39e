"""Every MS-CXR protocol builds its sample set from the user's files and records its name and hash: v0.1-all,
v1.1.0-test, chex (ChEX's remap order), mimic-split, split-file:PATH (and MedRPG's .pth converted to one)."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from msxr_bench.adapters.centre_box import CentreBoxAdapter
from msxr_bench.adapters.gloria_unpickle import UnsafeCheckpointError
from msxr_bench.data.mscxr import find_mscxr_annotations, load_mscxr
from msxr_bench.data.types import DatasetFormatError
from msxr_bench.hashing import sample_ids_sha256
from msxr_bench.tasks.catalog import TASKS
from msxr_bench.tasks.driver import EmptySplitError
from msxr_bench.tasks.grounding.medrpg_split import medrpg_dicom_ids
from msxr_bench.tasks.spec import TaskParamsError
from task_helpers import run_named

SPEC = TASKS["ms-cxr-boxes"]


def _load(root: Path, protocol: str, split: str | None = None):
    p = SPEC.protocol(protocol)
    return SPEC.task().load(SPEC.make_params({}), p, SPEC.resolve_split(p, split), root)


def _samples(root: Path):
    return load_mscxr(find_mscxr_annotations(root, "0.1"), root)[0]


@pytest.fixture
def remapped_world(toyworld_root: Path, tmp_path: Path) -> tuple[Path, dict[str, str], set[str]]:
    """The toy world with MS-CXR images spread over the MIMIC splits (the toy puts them all in test) and two
    images without a frontal ViewPosition: the split and metadata tables are rewritten, the rest linked."""
    root = tmp_path / "world"
    (root / "mimic-cxr-jpg").mkdir(parents=True)
    os.symlink(toyworld_root / "mimic-cxr-jpg" / "files", root / "mimic-cxr-jpg" / "files")
    os.symlink(toyworld_root / "ms-cxr", root / "ms-cxr")
    images = list(dict.fromkeys(s.dicom_id for s in _samples(toyworld_root)))
    assigned = {d: ("train", "validate", "test")[i % 3] for i, d in enumerate(images)}
    not_frontal = {images[0], images[4]}
    src = toyworld_root / "mimic-cxr-jpg"
    split = pd.read_csv(src / "mimic-cxr-2.0.0-split.csv.gz", dtype=str)
    split["split"] = [assigned.get(d, s) for d, s in zip(split["dicom_id"], split["split"])]
    split[split["dicom_id"] != images[7]].to_csv(root / "mimic-cxr-jpg" / "mimic-cxr-2.0.0-split.csv.gz", index=False)
    meta = pd.read_csv(src / "mimic-cxr-2.0.0-metadata.csv.gz", dtype=str)
    meta.loc[meta["dicom_id"] == images[0], "ViewPosition"] = "LATERAL"
    meta.loc[meta["dicom_id"] == images[4], "ViewPosition"] = None
    meta.to_csv(root / "mimic-cxr-jpg" / "mimic-cxr-2.0.0-metadata.csv.gz", index=False)
    del assigned[images[7]]  # no longer in the split file
    return root, assigned, not_frontal


def test_chex_remaps_in_its_order_and_keeps_frontal_images(remapped_world) -> None:
    root, assigned, not_frontal = remapped_world
    samples = _samples(root)
    want_test = [s.sample_id for s in samples if assigned.get(s.dicom_id) in ("validate", "test")
                 and s.dicom_id not in not_frontal]
    want_val = [s.sample_id for s in samples if assigned.get(s.dicom_id) == "train" and s.dicom_id not in not_frontal]
    test, val = _load(root, "chex"), _load(root, "chex", "val")
    assert test.ids == want_test and val.ids == want_val and want_test and want_val
    kept = set(want_test + want_val)
    assert _load(root, "chex", "all").ids == [s.sample_id for s in samples if s.sample_id in kept]
    rule = next(r for r in test.skips if r.source == "chex split rule")
    assert rule.counts["image not in the MIMIC-CXR split file"] >= 1
    assert rule.counts["image not frontal (metadata ViewPosition not PA/AP, or missing)"] >= 2
    assert {f.role for f in test.files} == {"annotations", "mimic_split", "mimic_metadata"}


def test_mimic_split_follows_the_split_file(remapped_world) -> None:
    root, assigned, _ = remapped_world
    samples = _samples(root)
    for split, mimic in (("train", "train"), ("val", "validate"), ("test", "test")):
        want = [s.sample_id for s in samples if assigned.get(s.dicom_id) == mimic]
        assert _load(root, "mimic-split", split).ids == want and want


def test_every_protocol_records_its_name_and_sample_hash(toyworld_root: Path, tmp_path: Path) -> None:
    samples = _samples(toyworld_root)
    ids_file = tmp_path / "ids.csv"
    ids_file.write_text("sample_id\n" + "\n".join(s.sample_id for s in samples[::3]) + "\nnot-an-id/0\n")
    listed = [s.sample_id for s in samples[::3]] + ["not-an-id/0"]
    expected_name = f"split-file:sample_id-sha256={sample_ids_sha256(listed)[:16]}"
    for protocol, split, name in (("v0.1-all", "all", "v0.1-all"), ("v1.1.0-test", "test", "v1.1.0-test"),
                                  ("chex", "test", "chex"), ("mimic-split", "test", "mimic-split"),
                                  (f"split-file:{ids_file}", "all", expected_name)):
        result = run_named("ms-cxr-boxes", {"protocol": protocol}, adapter=CentreBoxAdapter(),
                           data_root=toyworld_root, n_bootstrap=0)
        ids = sorted(r["sample_id"] for r in result.samples)
        assert (result.protocol.name, result.dataset.split) == (name, split)
        assert result.dataset.sample_ids_sha256 == sample_ids_sha256(ids) and ids
        assert str(tmp_path) not in result.model_dump_json()  # never the local path
    assert len(ids) == len(samples[::3])
    assert result.skipped[-1].counts == {"sample_id not found (or its pairs were skipped)": 1}
    assert result.dataset.files[-1].role == "split_file"


def test_split_file_by_dicom_id_and_bad_files(toyworld_root: Path, tmp_path: Path) -> None:
    samples = _samples(toyworld_root)
    images = list(dict.fromkeys(s.dicom_id for s in samples))[:5]
    (tmp_path / "d.csv").write_text("dicom_id,other\n" + "".join(f"{d},x\n" for d in images))
    loaded = _load(toyworld_root, f"split-file:{tmp_path / 'd.csv'}")
    assert loaded.ids == [s.sample_id for s in samples if s.dicom_id in images]
    assert loaded.protocol_name == f"split-file:dicom_id-sha256={sample_ids_sha256(images)[:16]}"
    (tmp_path / "bad.csv").write_text("id\nabc\n")
    with pytest.raises(DatasetFormatError, match="'sample_id' or 'dicom_id' column"):
        _load(toyworld_root, f"split-file:{tmp_path / 'bad.csv'}")
    with pytest.raises(DatasetFormatError, match="split file nowhere.csv not found"):
        _load(toyworld_root, "split-file:nowhere.csv")
    with pytest.raises(TaskParamsError, match="needs an argument"):
        SPEC.protocol("split-file:")
    with pytest.raises(TaskParamsError, match="takes no argument"):
        SPEC.protocol("chex:x")


def test_chex_val_of_the_toy_world_is_empty_and_says_so(toyworld_root: Path) -> None:
    # the toy world draws every MS-CXR image from MIMIC test subjects: ChEX's val (= MIMIC train) is empty there
    with pytest.raises(EmptySplitError, match="chex split 'val': no samples"):
        run_named("ms-cxr-boxes", {"protocol": "chex", "split": "validate"}, adapter=CentreBoxAdapter(),
                  data_root=toyworld_root, n_bootstrap=0)


def _medrpg_file(path: Path, samples, extra: object = None) -> None:
    entries = [(i, i, 1, str(s.image_path).split("mimic-cxr-jpg/")[-1], (1, 2, 3, 4), 2544, 3056, s.phrase)
               for i, s in enumerate(samples)]
    torch.save(entries if extra is None else entries + [extra], path)


def test_medrpg_pth_converts_to_a_dicom_id_list(toyworld_root: Path, tmp_path: Path) -> None:
    from msxr_bench.cli import main

    samples = _samples(toyworld_root)
    _medrpg_file(tmp_path / "MS_CXR_test.pth", samples[5:20] + samples[5:7])  # boxes repeat images
    out = tmp_path / "medrpg.csv"
    ran = CliRunner().invoke(main, ["convert-split", "medrpg", str(tmp_path / "MS_CXR_test.pth"), str(out)])
    assert ran.exit_code == 0, ran.output
    want = list(dict.fromkeys(s.dicom_id for s in samples[5:20]))
    assert out.read_text().splitlines() == ["dicom_id"] + want
    assert not any(s.phrase in out.read_text() for s in samples)  # dataset text stays out
    assert f"dicom_id-sha256={sample_ids_sha256(want)[:16]}" in ran.output
    assert _load(toyworld_root, f"split-file:{out}").ids == [s.sample_id for s in samples if s.dicom_id in want]


def test_medrpg_converter_refuses_code_and_foreign_pickles(tmp_path: Path) -> None:
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    torch.save([Evil()], tmp_path / "evil.pth", pickle_protocol=pickle.DEFAULT_PROTOCOL)
    with pytest.raises(UnsafeCheckpointError, match="refusing to load the global"):
        medrpg_dicom_ids(tmp_path / "evil.pth")
    torch.save({"a": 1}, tmp_path / "dict.pth")
    with pytest.raises(DatasetFormatError, match="list of annotation tuples"):
        medrpg_dicom_ids(tmp_path / "dict.pth")
    torch.save([(1, 2, 3)], tmp_path / "short.pth")
    with pytest.raises(DatasetFormatError, match="entry 0 is not MedRPG's"):
        medrpg_dicom_ids(tmp_path / "short.pth")


def test_list_protocols_explains_each_and_its_origin() -> None:
    from msxr_bench.cli import main

    out = CliRunner().invoke(main, ["list", "--protocols"]).output
    block = out.split("ms-cxr-boxes protocols")[1].split("protocols (--protocol")[0]
    for name, origin in (("v0.1-all", "BioViL"), ("v1.1.0-test", "MS-CXR v1.1.0"), ("chex", "ChEX"),
                         ("mimic-split", "CheXagent"), ("split-file:PATH", "MedRPG")):
        assert f"    {name}: " in block and origin in block
    assert "MIMIC validate -> test, then the rest (MIMIC train) -> val" in block
