"""rsna.load_rsna on hand-written files in the Kaggle stage-2 format, and every bad-input case."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dicom_writer import write_dicom
from msxr_bench.data.rsna import find_rsna_files, load_rsna, rsna_patient_ids
from msxr_bench.data.types import Box, DatasetFormatError

HEADER = "patientId,x,y,width,height,Target\n"
A, B, C = "0004cfab-14fd-4e49-80ba-63a80b6bddd6", "00436515-870c-4b36-a041-de91049b9ab4", "003d8fa0-6bf1-40ed-b54c-ac657f8495c5"
GOOD = (
    f"{A},,,,,0\n"
    f"{B},264.0,152.0,213.0,379.0,1\n"
    f"{C},,,,,0\n"
    f"{B},562.0,152.0,256.0,453.0,1\n"  # rows of one id need not be contiguous
)


def write(tmp_path: Path, body: str, name="stage_2_train_labels.csv", header=HEADER) -> Path:
    path = tmp_path / name
    path.write_text(header + body)
    return path


def images(tmp_path: Path, *ids: str, suffix=".dcm") -> Path:
    folder = tmp_path / "stage_2_train_images"
    for pid in ids:
        write_dicom(folder / f"{pid}{suffix}", np.zeros((8, 8), np.uint8))
    return folder


def test_one_sample_per_image_with_all_boxes(tmp_path):
    folder = images(tmp_path, A, B, C)
    samples, skips = load_rsna(write(tmp_path, GOOD), folder)
    assert skips.total == 0
    assert [s.patient_id for s in samples] == [A, B, C]
    assert [s.label for s in samples] == [0, 1, 0]
    assert samples[1].boxes == (Box(264, 152, 213, 379), Box(562, 152, 256, 453))
    assert samples[0].boxes == () and samples[1].image_path == folder / f"{B}.dcm"


def test_reads_the_zip_and_lists_ids(tmp_path):
    import zipfile

    with zipfile.ZipFile(tmp_path / "labels.csv.zip", "w") as zf:
        zf.writestr("stage_2_train_labels.csv", HEADER + GOOD)
    samples, _ = load_rsna(tmp_path / "labels.csv.zip", tmp_path, check_images=False)
    assert [s.label for s in samples] == [0, 1, 0]
    assert rsna_patient_ids(tmp_path / "labels.csv.zip") == [A, B, C]


def test_png_conversion_and_uppercase_suffix_are_found(tmp_path):
    folder = images(tmp_path, A, suffix=".DCM")
    from PIL import Image

    Image.fromarray(np.zeros((4, 4), np.uint8)).save(folder / f"{B}.png")
    samples, skips = load_rsna(write(tmp_path, GOOD), folder)
    assert [s.image_path.name for s in samples] == [f"{A}.DCM", f"{B}.png"]
    assert dict(skips.counts) == {"missing image": 1} and str(folder / f"{C}.dcm") in skips.examples["missing image"]


def test_class_info_is_joined(tmp_path):
    info = tmp_path / "stage_2_detailed_class_info.csv"
    info.write_text(f"patientId,class\n{A},No Lung Opacity / Not Normal\n{B},Lung Opacity\n{C},Normal\n{B},Lung Opacity\n")
    samples, _ = load_rsna(write(tmp_path, GOOD), tmp_path, info, check_images=False)
    assert [s.detailed_class for s in samples] == ["No Lung Opacity / Not Normal", "Lung Opacity", "Normal"]


@pytest.mark.parametrize("body, match", [
    (f"{A},Normal\n{B},Lung Opacity\n{C},Normal\n", f"{B} has 1 class rows but 2 label rows"),
    (f"{A},Lung Opacity\n{B},Lung Opacity\n{C},Normal\n{B},Lung Opacity\n", f"{A} has class 'Lung Opacity' but Target 0"),
    (f"{A},Normal\n{B},Normal\n{C},Normal\n{B},Normal\n", f"{B} has class 'Normal' but Target 1"),
    (f"{A},Normal\n{B},Lung Opacity\n{B},Lung Opacity\n", "1 labelled ids missing"),
    (f"{A},Normal\n{B},Lung Opacity\n{C},Normal\n{B},Normal\n", "several classes"),
    (f"{A},Pneumonia\n", "row 2: unknown class 'Pneumonia'"),
])
def test_inconsistent_class_info_is_an_error(tmp_path, body, match):
    info = tmp_path / "info.csv"
    info.write_text("patientId,class\n" + body)
    with pytest.raises(DatasetFormatError, match=match):
        load_rsna(write(tmp_path, GOOD), tmp_path, info, check_images=False)


@pytest.mark.parametrize("bad_rows, reason", [
    (f"{B},,,,,0\n", "conflicting Target 0 and 1 rows"),
    (f"{B},1.0,2.0,3.0,4.0,0\n", "negative row with box values"),
    (f"{B},,,,,1\n", "positive row without box"),
    (f"{B},abc,2.0,3.0,4.0,1\n", "non-numeric box value"),
    (f"{B},1.0,2.0,3.0,4.0,yes\n", "Target not 0/1"),
    (f"{B},1.0,2.0,3.0,4.0,2\n", "Target not 0/1"),
    (f"{B},900.0,2.0,200.0,4.0,1\n", "box outside the 1024x1024 image"),
    (f"{B},-5.0,2.0,200.0,4.0,1\n", "box outside the 1024x1024 image"),
    (f"{B},5.0,2.0,0.0,4.0,1\n", "box of zero or negative size"),
])
def test_bad_rows_skip_the_whole_image_with_a_reason(tmp_path, bad_rows, reason):
    samples, skips = load_rsna(write(tmp_path, GOOD + bad_rows), tmp_path, check_images=False)
    assert [s.patient_id for s in samples] == [A, C]
    assert dict(skips.counts) == {reason: 1} and skips.examples[reason][0].startswith(B)


def test_box_within_one_pixel_is_clipped(tmp_path):
    samples, skips = load_rsna(write(tmp_path, f"{B},-0.5,800.0,100.0,224.8,1\n"), tmp_path, check_images=False)
    assert skips.total == 0 and samples[0].boxes == (Box(0.0, 800.0, 99.5, 224.0),)


def test_missing_file_column_and_folder_are_clear_errors(tmp_path):
    with pytest.raises(DatasetFormatError, match="not found.*nope.csv"):
        load_rsna(tmp_path / "nope.csv", tmp_path)
    bad = write(tmp_path, f"{A},,,,0\n", header="patientId,x,y,width,height\n")
    with pytest.raises(DatasetFormatError, match=r"bad\.csv.*'Target'"):
        load_rsna(bad.rename(tmp_path / "bad.csv"), tmp_path)
    with pytest.raises(DatasetFormatError, match="image folder not found"):
        load_rsna(write(tmp_path, GOOD), tmp_path / "no_images")


def test_find_files_in_data_root_and_kaggle_folder(tmp_path):
    root = tmp_path / "data"
    (root / "rsna-pneumonia").mkdir(parents=True)
    write(root / "rsna-pneumonia", GOOD)
    assert find_rsna_files(root).labels == root / "rsna-pneumonia" / "stage_2_train_labels.csv"
    assert find_rsna_files(root).images_dir == root / "rsna-pneumonia" / "stage_2_train_images"
    kaggle = tmp_path / "k" / "rsna-pneumonia-detection-challenge"
    kaggle.mkdir(parents=True)
    write(kaggle, GOOD)
    (kaggle / "stage_2_detailed_class_info.csv").write_text("patientId,class\n")
    found = find_rsna_files(tmp_path / "k")
    assert found.labels.parent == kaggle and found.class_info == kaggle / "stage_2_detailed_class_info.csv"
    with pytest.raises(DatasetFormatError, match="no RSNA labels file"):
        find_rsna_files(tmp_path / "empty")
