"""Every loader reads the committed toy world (fixtures/toyworld/, the data-root layout) without skips other
than its deliberate traps, and what it reads agrees with the world's own ground truth (toyworld.json)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from msxr_bench.data.images import image_size, load_image
from msxr_bench.data.mimic import find_mimic_roots, load_mimic_pairs
from msxr_bench.data.mscxr import find_mscxr_annotations, load_mscxr
from msxr_bench.data.nli import find_nli_file, load_nli
from msxr_bench.data.rsna import find_rsna_files, load_rsna, rsna_patient_ids
from msxr_bench.data.splits import rsna_split

ROOT = Path(__file__).resolve().parents[1] / "fixtures" / "toyworld"


@pytest.fixture(scope="module")
def truth() -> dict:
    return json.loads((ROOT / "toyworld.json").read_text())


@pytest.mark.parametrize("version", ["0.1", "1.1.0"])
@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_mscxr_reads_without_skips_and_matches_truth(truth, version, fmt):
    samples, skips = load_mscxr(find_mscxr_annotations(ROOT, version, fmt), ROOT)
    assert skips.total == 0, skips.summary()
    assert len(samples) == truth["counts"]["mscxr"]["pairs"]
    assert len({s.dicom_id for s in samples}) == truth["counts"]["mscxr"]["images"]
    assert len({s.sample_id for s in samples}) == len(samples)
    for s in samples:
        image = truth["mimic"][s.dicom_id]
        assert s.image_size == (image["height"], image["width"]) == image_size(s.image_path)
        finding = next(f for f in image["findings"] if f["phrase"] == s.phrase)
        assert s.category == finding["category"]
        assert len(s.boxes) == len(finding["boxes"])
        for box, (x, y, w, h) in zip(s.boxes, finding["boxes"]):  # CSV boxes are int()-truncated
            assert abs(box.x - x) < 1 and abs(box.y - y) < 1 and abs(box.w - w) < 1 and abs(box.h - h) < 1
    if version == "1.1.0":
        assert {s.split for s in samples} == {"train", "val", "test"}
        by_subject = {}
        for s in samples:  # the official split is patient-level
            assert by_subject.setdefault(s.subject_id, s.split) == s.split


def test_mscxr_csv_and_json_agree():
    for version in ("0.1", "1.1.0"):
        from_csv, _ = load_mscxr(find_mscxr_annotations(ROOT, version, "csv"), ROOT, check_images=False)
        from_json, _ = load_mscxr(find_mscxr_annotations(ROOT, version, "json"), ROOT, check_images=False)
        assert [(s.sample_id, s.phrase, s.category, s.split) for s in from_csv] == \
               [(s.sample_id, s.phrase, s.category, s.split) for s in from_json]


def test_rsna_reads_without_skips_and_matches_truth(truth):
    files = find_rsna_files(ROOT)
    samples, skips = load_rsna(files.labels, files.images_dir, files.class_info)
    assert skips.total == 0, skips.summary()
    assert len(samples) == truth["counts"]["rsna_images"] == len(rsna_patient_ids(files.labels))
    assert sum(s.label for s in samples) == truth["counts"]["rsna_positive"]
    for s in samples:
        t = truth["rsna"][s.patient_id]
        assert s.label == t["target"] and s.detailed_class == t["class"]
        assert [(b.x, b.y, b.w, b.h) for b in s.boxes] == [tuple(b) for b in t["boxes"]]
    split = rsna_split(rsna_patient_ids(files.labels), "gloria")
    assert sum(map(len, split.values())) == len(samples)


def test_rsna_images_decode_with_opacities_brighter(truth):
    files = find_rsna_files(ROOT)
    samples, _ = load_rsna(files.labels, files.images_dir)
    for s in samples:
        image = load_image(s.image_path)  # includes MONOCHROME1, 16-bit with rescale, JPEG-compressed DICOMs
        assert image.shape == (1024, 1024)
        # dark background corner, bright mediastinum: holds for MONOCHROME1 files only if they are inverted
        assert image[:64, :64].mean() + 100 < image[448:576, 448:576].mean(), s.patient_id
        for b in s.boxes:
            inside = image[int(b.y):int(b.y2), int(b.x):int(b.x2)].mean()
            assert inside > image.mean(), (s.patient_id, truth["rsna"][s.patient_id].get("transfer_syntax"))


@pytest.mark.parametrize("name", ["radnli-dev", "radnli-test", "mednli-train", "mednli-dev", "mednli-test"])
def test_nli_files(truth, name):
    pairs = load_nli(find_nli_file(ROOT, name))
    assert len(pairs) == truth["counts"][name.replace("-", "_")]
    assert set(Counter(p.label for p in pairs)) == {"entailment", "neutral", "contradiction"}


def test_mimic_pairs_cover_every_frontal_image(truth):
    jpg, reports = find_mimic_roots(ROOT)
    pairs, skips = load_mimic_pairs(jpg, reports, split=None)
    temporal = ROOT / "toyworld-temporal.json"  # the temporal subjects' images (fixtures made since MS-CXR-T)
    images = {**truth["mimic"], **(json.loads(temporal.read_text())["images"] if temporal.is_file() else {})}
    frontal = {d for d, t in images.items() if t["view"] in ("PA", "AP")}
    # the only skips are the deliberate traps: lateral views and a missing ViewPosition
    assert set(skips.counts) <= {"not a frontal view", "missing ViewPosition"}
    assert skips.total == len(images) - len(frontal)
    assert {p.dicom_id for p in pairs} == frontal
    for p in pairs[:20]:
        assert p.sections["impression"] and p.image_path.is_file()
        assert p.split == images[p.dicom_id]["split"] and p.study_id == images[p.dicom_id]["study_id"]
    studies = Counter()
    for p in pairs:
        studies[p.split] += 1
    assert set(studies) <= {"train", "validate", "test"}
