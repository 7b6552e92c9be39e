"""PadChest-GR in its release layout, from its own seeded stream (the rest of the world does not move):
`padchest-gr/grounded_reports_20240819.json`, `padchest-gr/master_table.csv` and 16-bit PNGs in
`padchest-gr/PadChest_GR/<ImageID>` (the real release ships 16-bit PNGs in zip parts).

Per image, the grounded report is a list of findings: abnormal ones with an English sentence, a stand-in Spanish
one, `boxes` (primary reader) and `extra_boxes` (a second reader's, jittered) normalised (x1, y1, x2, y2),
`labels`, `locations`, `progression`; normal ones (negations, "no other significant alterations") are
`abnormal: false` without box keys, so phrases without boxes exist as in the release. The master table has one
row per (image, label) with the patient-level split (train / validation / test).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from msxr_bench.data.types import MS_CXR_CATEGORIES
from msxr_bench.toyworld.anatomy import sample_anatomy
from msxr_bench.toyworld.findings import count_weights, sample_findings
from msxr_bench.toyworld.phrases import negation, phrase
from msxr_bench.toyworld.plan import stream
from msxr_bench.toyworld.render import render_frontal
from msxr_bench.toyworld.writers.common import write_csv, write_json

REPORTS_NAME = "grounded_reports_20240819.json"
MASTER_NAME = "master_table.csv"
IMAGE_DIR = "PadChest_GR"
LABELS = {"Atelectasis": "atelectasis", "Cardiomegaly": "cardiomegaly", "Consolidation": "consolidation",
          "Edema": "pulmonary edema", "Lung Opacity": "increased density", "Pleural Effusion": "pleural effusion",
          "Pneumonia": "pneumonia", "Pneumothorax": "pneumothorax"}
SPANISH = {"Atelectasis": "Atelectasia", "Cardiomegaly": "Cardiomegalia", "Consolidation": "Consolidación",
           "Edema": "Edema pulmonar", "Lung Opacity": "Aumento de densidad", "Pleural Effusion": "Derrame pleural",
           "Pneumonia": "Neumonía", "Pneumothorax": "Neumotórax"}
SIDE_ES = {"left": " izquierdo", "right": " derecho", "bilateral": " bilateral", "": ""}
NORMAL = ("No other significant alterations.", "No significant findings.")
SIZES = [(256, 256)] * 6 + [(320, 288), (288, 320)]  # small: the committed fixture carries them


def _image_id(rng: np.random.Generator) -> str:
    digits = "".join(str(d) for d in rng.integers(0, 10, 45))
    return f"2168{digits[4:]}_{int(rng.integers(0, 100)):02d}-{int(rng.integers(0, 1000)):03d}-" \
           f"{int(rng.integers(0, 1000)):03d}.png"


def _normalised(box: tuple[float, float, float, float], h: int, w: int) -> list[float]:
    x, y, bw, bh = box
    return [round(x / w, 6), round(y / h, 6), round((x + bw) / w, 6), round((y + bh) / h, 6)]


def _jitter(box: list[float], rng: np.random.Generator) -> list[float]:
    moved = [min(1.0, max(0.0, v + float(rng.normal(0, 0.015)))) for v in box]
    x1, x2 = sorted(moved[0::2])
    y1, y2 = sorted(moved[1::2])
    return [round(x1, 6), round(y1, 6), round(max(x2, x1 + 0.01), 6), round(max(y2, y1 + 0.01), 6)]


def _record(rng: np.random.Generator) -> tuple[dict, np.ndarray, list[str]]:
    findings = sample_findings(rng, count_weights(rng, {0: 0.2, 1: 0.4, 2: 0.3, 3: 0.1}))
    heart = next((f.p("heart_half_width") for f in findings if f.category == "Cardiomegaly"), None)
    h, w = SIZES[int(rng.integers(0, len(SIZES)))]
    drawn = render_frontal(sample_anatomy(rng, heart), findings, h, w)
    entries, labels = [], []
    for f, boxes in zip(findings, drawn.boxes):
        norm = [_normalised(b, h, w) for b in boxes]
        entry = {"sentence_en": phrase(f, rng).text.rstrip(".") + ".",
                 "sentence_es": SPANISH[f.category] + SIDE_ES.get(f.side, "") + ".", "abnormal": True,
                 "boxes": norm, "labels": [LABELS[f.category]], "locations": [x for x in (f.side, f.zone) if x],
                 "progression": None if rng.random() < 0.7 else str(rng.choice(["stable", "worse", "better"]))}
        if rng.random() < 0.85:
            entry["extra_boxes"] = [_jitter(b, rng) for b in norm]
        entries.append(entry)
        labels.append(LABELS[f.category])
    absent = [c for c in MS_CXR_CATEGORIES if c not in {f.category for f in findings}]
    for k in range(int(rng.integers(1, 3))):
        denied = absent[int(rng.integers(0, len(absent)))]
        text = negation([denied], rng) if k == 0 else NORMAL[int(rng.integers(0, len(NORMAL)))]
        entries.append({"sentence_en": text, "sentence_es": "Sin otras alteraciones significativas.",
                        "abnormal": False, "labels": ["Normal"]})
    order = rng.permutation(len(entries))
    study = "".join(f"{int(v):02x}" for v in rng.integers(0, 256, 16))
    record = {"StudyID": study, "ImageID": _image_id(rng), "findings": [entries[i] for i in order]}
    return record, drawn.pixels, sorted(set(labels)) or ["Normal"]


def write_padchest_gr(root: Path, seed: int, n_images: int) -> dict:
    """Every file of the toy PadChest-GR under `root`; returns counts (phrases, of them without boxes)."""
    rng = stream(seed, "padchest-gr")
    records, rows, patients = [], [], []
    for i in range(n_images):
        record, pixels, labels = _record(rng)
        patient = str(int(rng.integers(10**9, 10**10))) if i == 0 or rng.random() < 0.75 else patients[-1]
        patients.append(patient)
        path = root / IMAGE_DIR / record["ImageID"]
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels.astype(np.uint16) * 257).save(path, format="PNG")  # 16-bit, the release's depth
        records.append(record)
        for label in labels:
            rows.append({"ImageID": record["ImageID"], "StudyID": record["StudyID"], "PatientID": patient,
                         "label": label, "label_group": label, "PatientSex_DICOM": "M" if i % 2 else "F"})
    unique = list(dict.fromkeys(patients))
    order = rng.permutation(len(unique))
    n_train, n_val = round(0.7 * len(unique)), round(0.15 * len(unique))
    split_of = {unique[j]: "train" if r < n_train else "validation" if r < n_train + n_val else "test"
                for r, j in enumerate(order)}
    for row in rows:
        row["split"] = split_of[row["PatientID"]]
    write_json(records, root / REPORTS_NAME, indent=None)
    write_csv(pd.DataFrame(rows, columns=["ImageID", "StudyID", "PatientID", "label", "label_group", "split",
                                          "PatientSex_DICOM"]), root / MASTER_NAME)
    phrases = [f for r in records for f in r["findings"]]
    without = sum(1 for f in phrases if not f.get("boxes"))
    return {"images": n_images, "phrases": len(phrases), "phrases_without_boxes": without}
