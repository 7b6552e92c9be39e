"""The MIMIC-CXR DICOM release of the toy world (opt-in: `generate(..., mimic_dicom=True)`, `msxr-bench toyworld
--mimic-dicom`): `mimic-cxr/files/pNN/pSUBJECT/sSTUDY/<dicom_id>.dcm` and `cxr-record-list.csv.gz`, for the images
of the `train` and `validate` splits (what training reads; the big MS-CXR test images are left out).

Each DICOM holds the same rendering as its JPG at 12 bits: stored = 16 * grey + a dither in [0, 16) drawn from the
world's own stream "mimic-dicom" (MONOCHROME2, BitsStored 12, uncompressed explicit VR little endian), so
decoding it (min-max to 8 bits) gives back the JPG's picture without its JPEG loss. UIDs derive from the seed.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage

from msxr_bench.toyworld.ids import TOY_IMPLEMENTATION_NAME, TOY_IMPLEMENTATION_UID, derived_uid
from msxr_bench.toyworld.plan import ImagePlan, StudyPlan, stream
from msxr_bench.toyworld.render import render_frontal, render_lateral
from msxr_bench.toyworld.writers.common import write_bytes, write_csv
from msxr_bench.toyworld.writers.mimic import study_dir

DICOM_SPLITS = ("train", "validate")


def _dataset(study: StudyPlan, image: ImagePlan, seed: int, pixels: np.ndarray) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = derived_uid(seed, "mimic-dicom", image.dicom_id, "sop")
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = TOY_IMPLEMENTATION_UID
    meta.ImplementationVersionName = TOY_IMPLEMENTATION_NAME
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = derived_uid(seed, "mimic-dicom", study.study_id, "study")
    ds.SeriesInstanceUID = derived_uid(seed, "mimic-dicom", image.dicom_id, "series")
    ds.PatientID, ds.Modality = study.subject_id, "CR"
    ds.ViewPosition = image.view or ""
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.Rows, ds.Columns = pixels.shape
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = pixels.astype("<u2").tobytes()
    return ds


def dicom_bytes(study: StudyPlan, image: ImagePlan, seed: int, grey: np.ndarray, rng: np.random.Generator) -> bytes:
    stored = grey.astype(np.uint16) * 16 + rng.integers(0, 16, size=grey.shape, dtype=np.uint16)
    buf = io.BytesIO()
    _dataset(study, image, seed, stored).save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def write_mimic_dicom(root: Path, studies: list[StudyPlan], seed: int) -> int:
    """Write the DICOM tree and its record list under `root`; returns the number of images written."""
    rng = stream(seed, "mimic-dicom")
    records = []
    for study in studies:
        if study.split not in DICOM_SPLITS:
            continue
        for image in study.images:
            H, W = image.size
            grey = (render_frontal(image.anatomy, study.findings, H, W).pixels if image.frontal
                    else render_lateral(image.anatomy, H, W))
            path = f"{study_dir(study)}/{image.dicom_id}.dcm"
            write_bytes(dicom_bytes(study, image, seed, grey, rng), root / path)
            records.append({"subject_id": int(study.subject_id), "study_id": int(study.study_id),
                            "dicom_id": image.dicom_id, "path": path})
    write_csv(pd.DataFrame(records, columns=["subject_id", "study_id", "dicom_id", "path"]),
              root / "cxr-record-list.csv.gz")
    return len(records)
