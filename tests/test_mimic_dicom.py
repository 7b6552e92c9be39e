"""Training on the MIMIC-CXR DICOM release: the toy world's DICOM tree holds the JPGs' pictures at 12 bits, the
loader finds exactly the same pairs in both formats, and the training loop runs on DICOMs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest

from msxr_bench.data.images import load_image
from msxr_bench.data.mimic import find_mimic_dicom_root, find_mimic_roots, load_mimic_pairs
from msxr_bench.data.types import DatasetFormatError
from msxr_bench.toyworld.plan import plan_mimic
from msxr_bench.toyworld.scales import get_scale
from msxr_bench.toyworld.temporal import plan_temporal
from msxr_bench.toyworld.writers.mscxrt import temporal_studies
from msxr_bench.toyworld.writers.mimic_dicom import write_mimic_dicom


@pytest.fixture(scope="module")
def dicom_root(toyworld_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data root: the toy world's JPG release and reports (linked) plus its DICOM release (written here)."""
    root = tmp_path_factory.mktemp("dicom-world")
    for name in ("mimic-cxr-jpg", "mimic-cxr-reports", "toyworld.json"):
        (root / name).symlink_to(toyworld_root / name)
    studies = plan_mimic(0, get_scale("tiny"))  # as the generator does: every study of the MIMIC tables
    studies += temporal_studies(plan_temporal(0, get_scale("tiny"), studies))
    write_mimic_dicom(root / "mimic-cxr", studies, 0)
    return root


def test_dicom_and_jpg_releases_give_the_same_pairs_and_pictures(dicom_root: Path) -> None:
    jpg, reports = find_mimic_roots(dicom_root)
    dicom = find_mimic_dicom_root(dicom_root)
    for split in ("train", "validate"):
        a, _ = load_mimic_pairs(jpg, reports, split)
        b, skips = load_mimic_pairs(jpg, reports, split, image_format="dicom", dicom_root=dicom)
        assert [(p.dicom_id, p.sections) for p in a] == [(p.dicom_id, p.sections) for p in b] and len(a) > 10
        assert all(p.image_path.suffix == ".dcm" for p in b) and "missing image" not in skips.counts
    pair_jpg, pair_dcm = a[0], b[0]
    ds = pydicom.dcmread(pair_dcm.image_path)
    assert (ds.BitsStored, ds.PhotometricInterpretation, ds.Modality) == (12, "MONOCHROME2", "CR")
    assert int(ds.pixel_array.max()) > 255  # really 12-bit values
    diff = np.abs(load_image(pair_jpg.image_path).astype(float) - load_image(pair_dcm.image_path).astype(float))
    assert diff.mean() < 3.0  # the same picture: JPEG loss and the 12-bit dither only


def test_the_dicom_writer_is_deterministic_and_lists_its_records(dicom_root: Path, tmp_path: Path) -> None:
    import pandas as pd

    studies = [s for s in plan_mimic(0, get_scale("tiny")) if s.split in ("train", "validate")][:5]
    write_mimic_dicom(tmp_path / "again", studies, 0)  # the same first five studies: the same bytes
    second = sorted((tmp_path / "again").rglob("*.dcm"))
    assert second and all(p.read_bytes() == (dicom_root / "mimic-cxr" / p.relative_to(tmp_path / "again")).read_bytes()
                          for p in second)
    first = sorted((dicom_root / "mimic-cxr").rglob("*.dcm"))
    records = pd.read_csv(dicom_root / "mimic-cxr" / "cxr-record-list.csv.gz")
    assert len(records) == len(first) and all((dicom_root / "mimic-cxr" / p).is_file() for p in records.path)


def test_asking_for_dicoms_without_the_release_is_a_clear_error(toyworld_root: Path) -> None:
    with pytest.raises(DatasetFormatError, match="no MIMIC-CXR DICOM release"):
        find_mimic_dicom_root(toyworld_root)
    jpg, reports = find_mimic_roots(toyworld_root)
    with pytest.raises(ValueError, match="image_format"):
        load_mimic_pairs(jpg, reports, "train", image_format="dicom")


def test_training_reads_the_dicoms(dicom_root: Path, tmp_path: Path, one_torch_thread) -> None:
    from msxr_bench.training.loop import TrainOptions, train

    run = tmp_path / "run"
    train(TrainOptions(model="biovil", data_root=dicom_root, output=run, config="tiny", max_steps=2, batch_size=4,
                       device="cpu", progress=False, image_format="dicom", max_train_pairs=8))
    assert json.loads((run / "run.json").read_text())["image_format"] == "dicom"
    assert (run / "checkpoint" / "image_model.safetensors").is_file()
