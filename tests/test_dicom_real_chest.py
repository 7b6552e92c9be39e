"""A real chest radiograph that nobody here drew (pydicom-data's RG1: a PA chest CR, 1955x1841, 15-bit,
MONOCHROME1) loads the right way round from every transfer syntax: uncompressed, lossless JPEG 2000, an RLE
copy made with pydicom's own encoder (identical pixels), and lossy JPEG 2000 (within 1 grey level).
pydicom-data is a test dependency (the `dev` extra): its files are 4-7 MB each, too large to commit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from msxr_bench.data.images import ImageDecodeError, load_image


def pydicom_data_file(name: str) -> Path:
    from pydicom.data import get_testdata_file

    path = get_testdata_file(name, download=False)  # never the network: the file comes with pydicom-data
    if path is None:
        pytest.fail(f"{name} not found: pydicom-data is a test dependency (pip install -e '.[dev]')")
    return Path(path)


@pytest.fixture(scope="module")
def rg1() -> np.ndarray:
    return load_image(pydicom_data_file("RG1_UNCR.dcm"))


def test_monochrome1_chest_is_inverted_and_kept_the_right_way_round(rg1):
    import pydicom

    ds = pydicom.dcmread(pydicom_data_file("RG1_UNCR.dcm"))
    assert (ds.Modality, ds.BodyPartExamined, ds.ViewPosition, ds.PhotometricInterpretation, ds.BitsStored) == (
        "CR", "CHEST", "PA", "MONOCHROME1", 15)
    assert list(ds.PatientOrientation) == ["L", "F"]  # columns run to the patient's left: the heart is image-right
    # independent mapping: its window (centre 15000, width 30000) is linear over the stored range, so the
    # result must be the raw values inverted and min-max stretched to uint8, pixel for pixel, not flipped
    raw = ds.pixel_array.astype(float)
    assert raw.min() >= 15000 - 30000 / 2 and raw.max() <= 15000 + 30000 / 2
    want = ((raw.max() - raw) / (raw.max() - raw.min()) * 255).astype(np.uint8)
    assert rg1.shape == (1955, 1841) and np.array_equal(rg1, want)

    h, w = rg1.shape

    def region(r0: float, r1: float, c0: float, c1: float) -> float:
        return float(rg1[int(r0 * h):int(r1 * h), int(c0 * w):int(c1 * w)].mean())

    mediastinum = region(0.25, 0.50, 0.45, 0.55)
    lungs = (region(0.25, 0.50, 0.20, 0.35), region(0.25, 0.50, 0.65, 0.80))
    assert mediastinum > max(lungs) + 60  # bones and mediastinum bright, aerated lungs dark (MONOCHROME2 sense)
    assert region(0.55, 0.75, 0.55, 0.70) > region(0.55, 0.75, 0.30, 0.45) + 5  # the heart's side: image right


def test_lossless_jpeg2000_loads_to_identical_pixels(rg1):
    assert np.array_equal(load_image(pydicom_data_file("RG1_J2KR.dcm")), rg1)


def test_rle_copy_made_with_pydicoms_encoder_loads_to_identical_pixels(rg1, tmp_path):
    import pydicom
    from pydicom.uid import RLELossless

    ds = pydicom.dcmread(pydicom_data_file("RG1_UNCR.dcm"))
    ds.compress(RLELossless, encoding_plugin="pydicom")
    ds.save_as(tmp_path / "rg1_rle.dcm")
    assert pydicom.dcmread(tmp_path / "rg1_rle.dcm").file_meta.TransferSyntaxUID == RLELossless
    assert np.array_equal(load_image(tmp_path / "rg1_rle.dcm"), rg1)


def test_lossy_jpeg2000_is_within_one_grey_level_of_its_uncompressed_twin():
    """UNCI is the uncompressed twin of the lossy J2KI (not of UNCR): compared after our uint8 mapping."""
    lossy, twin = load_image(pydicom_data_file("RG1_J2KI.dcm")), load_image(pydicom_data_file("RG1_UNCI.dcm"))
    assert lossy.shape == twin.shape == (1955, 1841)
    assert np.abs(lossy.astype(int) - twin.astype(int)).max() <= 1


def test_a_leg_radiograph_is_a_radiograph_modality(tmp_path):
    """RG3 is a leg (CR, EXTREMITY): the modality policy accepts it (body part is not checked), and a copy
    relabelled MR is refused, with the file named."""
    import pydicom

    leg = load_image(pydicom_data_file("RG3_UNCR.dcm"))
    assert leg.shape == (1760, 1760)
    ds = pydicom.dcmread(pydicom_data_file("RG3_UNCR.dcm"))
    ds.Modality = "MR"
    ds.save_as(tmp_path / "leg_mr.dcm")
    with pytest.raises(ImageDecodeError, match=r"leg_mr\.dcm.*modality 'MR'"):
        load_image(tmp_path / "leg_mr.dcm")
    assert np.array_equal(load_image(tmp_path / "leg_mr.dcm", allowed_modalities=None), leg)
