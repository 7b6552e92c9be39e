"""Generate a whole toy CXR world under one directory, in the data-root layout the tasks read:
mimic-cxr-jpg/, mimic-cxr-reports/, ms-cxr/, ms-cxr-t/, rsna-pneumonia/, radnli/, mednli/, padchest-gr/, toyworld.json
(seed, scale, version, counts and every image's ground-truth findings and boxes) and toyworld-temporal.json
(the temporal subjects' images and changes)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from msxr_bench.toyworld.plan import plan_mimic
from msxr_bench.toyworld.rsna_plan import plan_rsna
from msxr_bench.toyworld.scales import get_scale
from msxr_bench.toyworld.temporal import plan_temporal
from msxr_bench.toyworld.writers.common import write_json
from msxr_bench.toyworld.writers.mimic import write_mimic
from msxr_bench.toyworld.writers.mimic_dicom import write_mimic_dicom
from msxr_bench.toyworld.writers.mscxr import write_mscxr
from msxr_bench.toyworld.writers.mscxrt import temporal_studies, write_mscxrt
from msxr_bench.toyworld.writers.nli import write_nli
from msxr_bench.toyworld.writers.padchest_gr import write_padchest_gr
from msxr_bench.toyworld.writers.rsna import write_rsna

GENERATOR_VERSION = "1.0"
CONVENTIONS = {
    "laterality": "patient side; on frontal (PA/AP) images the patient's left is the image's right half",
    "boxes": "x, y, width, height in pixels of the image on disk, (x, y) = top-left corner",
    "mscxr_source_split": "MS-CXR images are frontal images of MIMIC-CXR test-split subjects",
}


def generate(out: Path, seed: int = 0, scale: str = "tiny", rsna_boxes: Path | None = None,
             workers: int | None = None, mimic_dicom: bool = False) -> dict:
    """Write the world of (`seed`, `scale`) under `out`; same arguments give byte-identical files,
    whatever `workers` (processes drawing images; default 1 for tiny, else up to 4 CPUs).
    `rsna_boxes`: a real `stage_2_train_labels.csv(.zip)` whose positive boxes place the RSNA opacities.
    `mimic_dicom`: also write the MIMIC-CXR DICOM release (mimic-cxr/, train and validate images; every other file
    is unchanged)."""
    spec = get_scale(scale)
    if workers is None:
        workers = 1 if scale == "tiny" else max(1, min(4, os.cpu_count() or 1))
    out = Path(out)
    start = time.perf_counter()
    studies = plan_mimic(seed, spec)
    temporal = plan_temporal(seed, spec, studies)
    mimic_truth = write_mimic(out / "mimic-cxr-jpg", out / "mimic-cxr-reports", studies, workers,
                              extra_table_studies=temporal_studies(temporal))
    mscxr_counts = write_mscxr(out / "ms-cxr", studies, mimic_truth)
    rsna_plans = plan_rsna(seed, spec, rsna_boxes)
    rsna_truth = write_rsna(out / "rsna-pneumonia", rsna_plans, seed, tiny=scale == "tiny", workers=workers,
                            size=spec.rsna_size, image_format=spec.rsna_format)
    nli_counts = write_nli(out, seed, spec)
    dicom_images = (write_mimic_dicom(out / "mimic-cxr", studies + temporal_studies(temporal), seed)
                    if mimic_dicom else 0)  # every study of the MIMIC tables (the temporal ones after the rest)
    mscxrt_counts = write_mscxrt(out, temporal, seed, spec, workers)  # summarised in its own truth file
    splits = [s.split for s in studies]
    counts = {
        "mimic_studies": {k: splits.count(k) for k in ("train", "validate", "test")},
        "mimic_images": len(mimic_truth),
        "mscxr": mscxr_counts,
        "rsna_images": len(rsna_truth),
        "rsna_positive": sum(t["target"] for t in rsna_truth.values()),
        **nli_counts,
        **({"mimic_dicom_images": dicom_images} if mimic_dicom else {}),
    }
    summary = {"generator": "msxr_bench.toyworld", "version": GENERATOR_VERSION, "seed": seed, "scale": scale,
               "rsna_boxes": "real" if rsna_boxes else "world", "counts": counts, "conventions": CONVENTIONS}
    write_json({**summary, "mimic": mimic_truth, "rsna": rsna_truth}, out / "toyworld.json", indent=None)
    # written after the rest from its own stream: the files above stay byte-identical (toyworld.json too)
    padchest = write_padchest_gr(out / "padchest-gr", seed, spec.padchest_images)
    return {**summary, "mscxrt": mscxrt_counts, "padchest_gr": padchest,
            "seconds": round(time.perf_counter() - start, 1), "out": str(out)}
