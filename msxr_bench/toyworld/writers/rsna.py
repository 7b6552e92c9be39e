"""RSNA Pneumonia Detection Challenge (stage 2): `stage_2_train_labels.csv`,
`stage_2_detailed_class_info.csv` and `stage_2_train_images/<patientId>.dcm` (1024x1024), or (the `probe`
scale) smaller JPEG conversions `<patientId>.jpg` drawn at the scale's size, boxes still in the 1024 frame.

Most DICOMs are 8-bit MONOCHROME2 JPEG-baseline like Kaggle's; a few are MONOCHROME1 (stored
inverted) and a few 16-bit (BitsStored 12, RescaleSlope/Intercept) RLE-lossless (every other one
uncompressed beyond the tiny scale). UIDs derive from the seed; no dates or times of the machine.
"""

from __future__ import annotations

import dataclasses
import io
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import (
    JPEGBaseline8Bit, RLELossless, SecondaryCaptureImageStorage, ExplicitVRLittleEndian,
)

from msxr_bench.toyworld.ids import TOY_IMPLEMENTATION_NAME, TOY_IMPLEMENTATION_UID, derived_uid
from msxr_bench.toyworld.render import render_frontal
from msxr_bench.toyworld.rsna_plan import RSNA_SIZE, RsnaPlan
from msxr_bench.toyworld.writers.common import jpeg_bytes, parallel_map, write_bytes, write_csv

# 16-bit files: stored = 16 * grey + 15 (0 ... 4095, BitsStored 12)  ->  grey = stored * slope + intercept
INT16_SCALE, INT16_OFFSET = 16, 15
INT16_SLOPE, INT16_INTERCEPT = 1 / INT16_SCALE, -INT16_OFFSET / INT16_SCALE
JPEG_QUALITY = 75


def _dataset(plan: RsnaPlan, seed: int, transfer_syntax: str) -> Dataset:
    pid = plan.patient_id
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = derived_uid(seed, "rsna", pid, "sop")
    meta.TransferSyntaxUID = transfer_syntax
    meta.ImplementationClassUID = TOY_IMPLEMENTATION_UID
    meta.ImplementationVersionName = TOY_IMPLEMENTATION_NAME
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyDate, ds.StudyTime = "19010101", "000000.00"
    ds.AccessionNumber = ""
    ds.Modality, ds.ConversionType = "CR", "WSD"
    ds.ReferringPhysicianName = ""
    ds.SeriesDescription = f"view: {plan.view}"
    ds.PatientName, ds.PatientID = pid, pid
    ds.PatientBirthDate = ""
    ds.PatientSex = plan.sex
    with warnings.catch_warnings():  # Kaggle's files hold plain numbers ("51"), not DICOM's "051Y"
        warnings.simplefilter("ignore", UserWarning)
        ds.PatientAge = str(plan.age)
    ds.BodyPartExamined, ds.ViewPosition = "CHEST", plan.view
    ds.StudyInstanceUID = derived_uid(seed, "rsna", pid, "study")
    ds.SeriesInstanceUID = derived_uid(seed, "rsna", pid, "series")
    ds.StudyID = ""
    ds.SeriesNumber, ds.InstanceNumber = "1", "1"
    ds.PatientOrientation = ""
    ds.SamplesPerPixel = 1
    ds.Rows = ds.Columns = RSNA_SIZE
    ds.PixelSpacing = [plan.pixel_spacing, plan.pixel_spacing]
    ds.PixelRepresentation = 0
    return ds


def dicom_bytes(plan: RsnaPlan, pixels: np.ndarray, seed: int, rle: bool = True) -> bytes:
    """One DICOM file for `pixels` (uint8 [1024, 1024], white = dense) in the plan's encoding."""
    if plan.encoding == "int16":
        ds = _dataset(plan, seed, RLELossless if rle else ExplicitVRLittleEndian)
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
        ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = str(INT16_INTERCEPT), str(INT16_SLOPE), "US"
        stored = pixels.astype(np.uint16) * INT16_SCALE + INT16_OFFSET
        if rle:
            ds.compress(RLELossless, stored, generate_instance_uid=False)
        else:
            ds.PixelData = stored.tobytes()
    else:
        ds = _dataset(plan, seed, JPEGBaseline8Bit)
        mono1 = plan.encoding == "monochrome1"
        ds.PhotometricInterpretation = "MONOCHROME1" if mono1 else "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
        ds.LossyImageCompression, ds.LossyImageCompressionMethod = "01", "ISO_10918_1"
        ds.PixelData = encapsulate([jpeg_bytes(255 - pixels if mono1 else pixels, JPEG_QUALITY)])
        ds["PixelData"].VR = "OB"
        ds["PixelData"].is_undefined_length = True
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def draw_rsna(job: tuple) -> tuple[bytes, list]:
    """DICOM (or JPEG) bytes of one image and its boxes in the 1024 frame (the given real boxes, or those
    measured on it). `job` = (plan, seed, rle[, size, image_format])."""
    plan, seed, rle, size, image_format = (*job, RSNA_SIZE, "dcm")[:5]
    anatomy = plan.anatomy
    if plan.encoding == "int16" and image_format == "dcm":  # no grain keeps the lossless files small
        anatomy = dataclasses.replace(anatomy, noise=0.0)
    drawn = render_frontal(anatomy, plan.findings, size, size)
    to_frame = RSNA_SIZE / size
    if plan.real_boxes is not None:
        boxes = list(plan.real_boxes)
    elif plan.target:
        boxes = [tuple(float(round(v * to_frame)) for v in b) for per in drawn.boxes for b in per]
    else:
        boxes = []
    if image_format == "jpg":
        return jpeg_bytes(drawn.pixels, JPEG_QUALITY), boxes
    return dicom_bytes(plan, drawn.pixels, seed, rle), boxes


def write_rsna(root: Path, plans: list[RsnaPlan], seed: int, tiny: bool, workers: int = 1, size: int = RSNA_SIZE,
               image_format: str = "dcm") -> dict:
    """Images and both CSVs; returns {patientId: ground truth}. `size`/`image_format` other than 1024/"dcm":
    JPEG conversions drawn at `size` (the loader reads `<patientId>.jpg`; boxes stay in the 1024 frame)."""
    if image_format not in ("dcm", "jpg") or (image_format == "dcm" and size != RSNA_SIZE):
        raise ValueError(f"RSNA images are {RSNA_SIZE}-px DICOMs or JPEG conversions, got {image_format} at {size}")
    int16 = [p.patient_id for p in plans if p.encoding == "int16"]
    rle = {pid: tiny or k % 2 == 0 for k, pid in enumerate(int16)}  # beyond tiny every other one uncompressed
    jobs = [(p, seed, rle.get(p.patient_id, False), size, image_format) for p in plans]
    truth: dict = {}
    label_rows, class_rows = [], []
    for plan, (data, boxes) in zip(plans, parallel_map(draw_rsna, jobs, workers, "RSNA DICOMs" if image_format == "dcm" else "RSNA JPEGs")):
        write_bytes(data, root / "stage_2_train_images" / f"{plan.patient_id}.{image_format}")
        for box in boxes or [None]:
            x, y, w, h = box if box else (np.nan,) * 4
            label_rows.append({"patientId": plan.patient_id, "x": x, "y": y, "width": w, "height": h,
                               "Target": plan.target})
            class_rows.append({"patientId": plan.patient_id, "class": plan.klass})
        syntax = "jpeg-baseline" if plan.encoding != "int16" else "rle" if rle[plan.patient_id] else "explicit-le"
        if image_format == "jpg":
            syntax = f"jpeg {size}x{size} (conversion)"
        truth[plan.patient_id] = {
            "class": plan.klass, "target": plan.target, "view": plan.view, "encoding": plan.encoding,
            "transfer_syntax": syntax, "boxes": [list(b) for b in boxes],
            "findings": [{"category": f.category, "side": f.side, "zone": f.zone, "severity": f.severity}
                         for f in plan.findings],
        }
    labels = pd.DataFrame(label_rows, columns=["patientId", "x", "y", "width", "height", "Target"])
    write_csv(labels.astype({c: float for c in ("x", "y", "width", "height")}), root / "stage_2_train_labels.csv")
    write_csv(pd.DataFrame(class_rows, columns=["patientId", "class"]), root / "stage_2_detailed_class_info.csv")
    return truth
