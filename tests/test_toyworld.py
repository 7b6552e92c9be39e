"""The toy CXR world: deterministic, laterality as in radiology, every dataset in its real format,
and findings that really change the pixels inside their boxes (so grounding is learnable)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
from click.testing import CliRunner
from PIL import Image
from pydicom.pixels import apply_modality_lut

from msxr_bench.data.types import MS_CXR_CATEGORIES, DatasetFormatError
from msxr_bench.toyworld import generate
from msxr_bench.toyworld.anatomy import sample_anatomy
from msxr_bench.toyworld.findings import sample_findings
from msxr_bench.toyworld.render import render_frontal
from msxr_bench.toyworld.rsna_plan import plan_rsna
from msxr_bench.toyworld.scales import get_scale
from msxr_bench.toyworld.writers.common import parallel_map
from msxr_bench.toyworld.writers.rsna import dicom_bytes, draw_rsna

DICOM_ID = re.compile(r"^[0-9a-f]{8}(-[0-9a-f]{8}){4}$")
MSCXR_PATH = re.compile(r"^files/p1\d/p1\d{7}/s5\d{7}/(?P<dicom>[0-9a-f]{8}(-[0-9a-f]{8}){4})\.jpg$")
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
MSCXR_V0_HEADER = "dicom_id,category_name,label_text,path,x,y,w,h,image_width,image_height"
METADATA_HEADER = ("dicom_id,subject_id,study_id,PerformedProcedureStepDescription,ViewPosition,Rows,Columns,"
                   "StudyDate,StudyTime,ProcedureCodeSequence_CodeMeaning,ViewCodeSequence_CodeMeaning,"
                   "PatientOrientationCodeSequence_CodeMeaning")
CHEXPERT_HEADER = ("subject_id,study_id,Atelectasis,Cardiomegaly,Consolidation,Edema,Enlarged Cardiomediastinum,"
                   "Fracture,Lung Lesion,Lung Opacity,No Finding,Pleural Effusion,Pleural Other,Pneumonia,"
                   "Pneumothorax,Support Devices")
# The official MIMIC-CXR section parser's header pattern (MIT-LCP/mimic-cxr txt/section_parser.py).
SECTION_HEADER = re.compile(r"\n ([A-Z ()/,-]+):\s", re.DOTALL)
# Real rows of the RSNA stage-2 label file (two positives with their boxes, one negative).
REAL_RSNA_ROWS = """patientId,x,y,width,height,Target
0004cfab-14fd-4e49-80ba-63a80b6bddd6,,,,,0
00436515-870c-4b36-a041-de91049b9ab4,264.0,152.0,213.0,379.0,1
00436515-870c-4b36-a041-de91049b9ab4,562.0,152.0,256.0,453.0,1
00704310-78a8-4b38-8475-49f4573b2dbb,323.0,577.0,160.0,104.0,1
00704310-78a8-4b38-8475-49f4573b2dbb,695.0,575.0,162.0,137.0,1
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """The tiny world, written through the CLI exactly as the committed fixture was."""
    out = tmp_path_factory.mktemp("toyworld")
    from msxr_bench.cli.toyworld_cmd import toyworld_cmd

    result = CliRunner().invoke(toyworld_cmd, ["--out", str(out), "--seed", "0", "--scale", "tiny"])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def truth(world) -> dict:
    return json.loads((world / "toyworld.json").read_text())


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_and_scale_write_byte_identical_files(world, tmp_path):
    generate(tmp_path / "again", seed=0, scale="tiny")
    assert _hashes(tmp_path / "again") == _hashes(world)


def test_parallel_drawing_returns_the_serial_results_in_order():
    items = list(range(12))
    assert list(parallel_map(abs, [-i for i in items], 2, "t")) == list(parallel_map(abs, [-i for i in items], 1, "t"))


def test_summary_counts_match_the_tiny_scale(truth):
    scale, counts = get_scale("tiny"), truth["counts"]
    assert (truth["seed"], truth["scale"]) == (0, "tiny")
    assert counts["mimic_studies"]["train"] == scale.train_images
    assert counts["rsna_images"] == 24 and counts["rsna_positive"] == 12
    assert 40 <= counts["mscxr"]["pairs"] <= 60


def test_left_findings_lie_in_the_image_right_half(truth):
    """Radiology convention on PA/AP: the patient's left is the image's right."""
    checked = {"left": 0, "right": 0}
    for entry in truth["mimic"].values():
        W = entry["width"]
        for f in entry["findings"]:
            for x, _, w, _ in f["boxes"]:
                if f["side"] == "left":
                    assert x >= W / 2, (entry["path"], f)
                elif f["side"] == "right":
                    assert x + w <= W / 2, (entry["path"], f)
                checked[f["side"]] = checked.get(f["side"], 0) + 1
    assert checked["left"] > 20 and checked["right"] > 20


def test_a_left_finding_darkens_or_brightens_only_the_image_right_half():
    rng = np.random.default_rng(3)
    for category in ("Pneumothorax", "Pleural Effusion", "Pneumonia"):
        finding = next(f for f in iter(lambda: sample_findings(rng, 1, must=category)[0], None) if f.side == "left")
        anatomy = sample_anatomy(rng)
        diff = np.abs(render_frontal(anatomy, [finding], 256, 256).pixels.astype(float)
                      - render_frontal(anatomy, [], 256, 256).pixels.astype(float))
        assert diff[:, 128:].sum() > 20 * diff[:, :128].sum(), category


@pytest.mark.parametrize("category", MS_CXR_CATEGORIES)
def test_findings_change_pixels_inside_their_boxes_far_more_than_outside(category):
    """Render the same chest with and without the finding: the change concentrates in its boxes."""
    rng = np.random.default_rng(MS_CXR_CATEGORIES.index(category))
    ratios, inside_means = [], []
    for _ in range(6):
        finding = sample_findings(rng, 1, must=category)[0]
        heart = finding.p("heart_half_width") if category == "Cardiomegaly" else None
        anatomy = sample_anatomy(rng, heart)
        drawn = render_frontal(anatomy, [finding], 256, 256)
        normal_heart = replace(anatomy, heart_half_width=0.355)  # the middle of the normal range
        without = render_frontal(normal_heart if category == "Cardiomegaly" else anatomy, [], 256, 256)
        diff = np.abs(drawn.pixels.astype(float) - without.pixels.astype(float))
        mask = np.zeros(diff.shape, bool)
        for x, y, w, h in drawn.boxes[0]:
            mask[int(y):int(np.ceil(y + h)), int(x):int(np.ceil(x + w))] = True
        inside_means.append(diff[mask].mean())
        ratios.append(diff[mask].mean() / (diff[~mask].mean() + 1e-3))
    assert np.median(inside_means) > 8.0, inside_means  # grey levels: clearly visible
    assert np.median(ratios) > 5.0, ratios


def test_boxes_are_at_least_one_and_a_half_patches_of_a_128px_8x8_grid(truth):
    """Findings smaller than a grid patch are ungroundable; most must be >= 24 px at 128 px."""
    sides = [min(w, h) / min(e["width"], e["height"])
             for e in truth["mimic"].values() for f in e["findings"] for _, _, w, h in f["boxes"]]
    assert min(sides) >= 0.14
    assert np.mean(np.array(sides) >= 24 / 128) > 0.8


# ---- MS-CXR -------------------------------------------------------------------------------------

def test_mscxr_csv_headers_ids_paths_and_categories(world):
    v0 = world / "ms-cxr" / "MS_CXR_Local_Alignment_v1.0.0.csv"
    v1 = world / "ms-cxr" / "MS_CXR_Local_Alignment_v1.1.0.csv"
    assert v0.read_text().splitlines()[0] == MSCXR_V0_HEADER
    assert v1.read_text().splitlines()[0] == MSCXR_V0_HEADER + ",split"
    assert b"\r\n" not in v1.read_bytes()
    df = pd.read_csv(v1)
    assert df.dicom_id.map(DICOM_ID.match).all()
    assert all(MSCXR_PATH.match(p).group("dicom") == d for p, d in zip(df.path, df.dicom_id))
    assert set(df.category_name) == set(MS_CXR_CATEGORIES)
    assert set(df.split) == {"train", "val", "test"}
    assert df.groupby("path").split.nunique().max() == 1
    assert (df.label_text.str.contains(",")).any() and '"' in v1.read_text()
    assert df.groupby(["dicom_id", "label_text"]).size().max() >= 2  # a phrase with 2+ boxes
    assert df.groupby("dicom_id").label_text.nunique().max() >= 2  # an image with 2 phrases
    assert ((df.x >= 0) & (df.y >= 0) & (df.x + df.w <= df.image_width) & (df.y + df.h <= df.image_height)).all()
    assert pd.read_csv(v0).equals(df.drop(columns="split"))


def test_mscxr_split_is_patient_level(world):
    df = pd.read_csv(world / "ms-cxr" / "MS_CXR_Local_Alignment_v1.1.0.csv")
    subjects = df.path.str.split("/").str[2]
    assert df.assign(subject=subjects).groupby("subject").split.nunique().max() == 1


def test_mscxr_json_is_coco_with_float_boxes_and_a_duplicated_image_record(world):
    coco = json.loads((world / "ms-cxr" / "MS_CXR_Local_Alignment_v1.1.0.json").read_text())
    assert set(coco) == {"images", "annotations", "categories"}
    assert [c["name"] for c in sorted(coco["categories"], key=lambda c: c["id"])] == list(MS_CXR_CATEGORIES)
    paths = [im["path"] for im in coco["images"]]
    assert len(paths) > len(set(paths))  # the 1,120-records-for-1,047-images trap
    assert len({im["id"] for im in coco["images"]}) == len(paths)
    assert all(isinstance(v, float) for a in coco["annotations"] for v in a["bbox"])
    assert any(v != int(v) for a in coco["annotations"] for v in a["bbox"])
    csv = pd.read_csv(world / "ms-cxr" / "MS_CXR_Local_Alignment_v1.1.0.csv")
    assert len(csv) == len(coco["annotations"])
    assert csv[["x", "y", "w", "h"]].values.tolist() == [[int(v) for v in a["bbox"]] for a in coco["annotations"]]
    assert {a["split"] for a in coco["annotations"]} == {"train", "val", "test"}


def test_mscxr_images_are_mimic_test_images_with_the_sizes_the_csv_states(world):
    df = pd.read_csv(world / "ms-cxr" / "MS_CXR_Local_Alignment_v1.0.0.csv").drop_duplicates("dicom_id")
    split = pd.read_csv(world / "mimic-cxr-jpg" / "mimic-cxr-2.0.0-split.csv.gz").set_index("dicom_id")
    assert (split.loc[df.dicom_id, "split"] == "test").all()
    sizes = [(r.image_width, r.image_height) for r in df.itertuples()]
    assert sizes.count((2544, 3056)) == 2 and sizes.count((3056, 2544)) == 2
    assert sizes.count((512, 512)) == len(sizes) - 4
    for r in df.itertuples():
        with Image.open(world / "mimic-cxr-jpg" / r.path) as im:
            assert im.size == (r.image_width, r.image_height) and im.mode == "L"


def test_mscxr_phrases_appear_in_their_reports(world):
    df = pd.read_csv(world / "ms-cxr" / "MS_CXR_Local_Alignment_v1.0.0.csv")
    for r in df.drop_duplicates(["dicom_id", "label_text"]).itertuples():
        report = (world / "mimic-cxr-reports" / (str(Path(r.path).parent) + ".txt")).read_text()
        assert " ".join(r.label_text.lower().split()) in " ".join(report.lower().split())  # lines wrap


# ---- MIMIC-CXR ----------------------------------------------------------------------------------

def test_mimic_tables_have_the_official_columns_and_values(world):
    root = world / "mimic-cxr-jpg"
    for name in ("split", "metadata", "chexpert"):
        raw = (root / f"mimic-cxr-2.0.0-{name}.csv.gz").read_bytes()
        assert raw[:2] == b"\x1f\x8b" and raw[4:8] == b"\0\0\0\0"  # gzip with mtime 0

    def header(name: str) -> str:
        return gzip.decompress((root / f"mimic-cxr-2.0.0-{name}.csv.gz").read_bytes()).decode().split("\n")[0]

    assert header("split") == "dicom_id,study_id,subject_id,split"
    assert header("metadata") == METADATA_HEADER
    assert header("chexpert") == CHEXPERT_HEADER
    split = pd.read_csv(root / "mimic-cxr-2.0.0-split.csv.gz")
    assert set(split.split) == {"train", "validate", "test"}
    assert split.groupby("subject_id").split.nunique().max() == 1  # patient-disjoint
    meta = pd.read_csv(root / "mimic-cxr-2.0.0-metadata.csv.gz")
    assert {"PA", "AP", "LATERAL"} <= set(meta.ViewPosition.dropna()) and meta.ViewPosition.isna().any()
    assert list(meta.dicom_id) == list(split.dicom_id)
    chexpert = pd.read_csv(root / "mimic-cxr-2.0.0-chexpert.csv.gz")
    labels = chexpert.iloc[:, 2:].to_numpy().ravel()
    assert set(labels[~np.isnan(labels)]) == {1.0, 0.0, -1.0} and np.isnan(labels).any()  # blank = unmentioned
    assert not chexpert.duplicated(["subject_id", "study_id"]).any()
    assert len(chexpert) == split.study_id.nunique()


def test_mimic_images_exist_at_their_paths_with_metadata_sizes(world):
    root = world / "mimic-cxr-jpg"
    meta = pd.read_csv(root / "mimic-cxr-2.0.0-metadata.csv.gz").sample(30, random_state=0)
    for r in meta.itertuples():
        study = root / "files" / f"p{str(r.subject_id)[:2]}" / f"p{r.subject_id}" / f"s{r.study_id}"
        path = study / f"{r.dicom_id}.jpg"
        with Image.open(path) as im:
            assert (im.height, im.width) == (r.Rows, r.Columns)


def test_reports_follow_the_mimic_txt_layout(world):
    reports = sorted((world / "mimic-cxr-reports" / "files").rglob("s5*.txt"))
    assert len(reports) == pd.read_csv(world / "mimic-cxr-jpg" / "mimic-cxr-2.0.0-split.csv.gz").study_id.nunique()
    negative_pneumonia = 0
    for path in reports:
        text = path.read_text()
        lines = text.split("\n")
        assert lines[0] == " " * 33 + "FINAL REPORT" and text.endswith("\n")
        assert all(line.startswith(" ") and len(line) <= 79 for line in lines[1:-1]), path
        assert all(line.strip() or line == " " for line in lines[1:-1])
        headers = SECTION_HEADER.findall(text)
        assert headers[:4] == ["EXAMINATION", "INDICATION", "TECHNIQUE", "COMPARISON"] and headers[-1] == "IMPRESSION"
        assert "___" in text
        negative_pneumonia += bool(re.search(r"no (evidence of |findings to suggest )?pneumonia", text, re.I))
    assert negative_pneumonia >= 10


# ---- RSNA ---------------------------------------------------------------------------------------

def test_rsna_label_files_have_kaggle_format(world):
    root = world / "rsna-pneumonia"
    lines = (root / "stage_2_train_labels.csv").read_text().splitlines()
    assert lines[0] == "patientId,x,y,width,height,Target"
    for line in lines[1:]:
        pid, *box, target = line.split(",")
        assert UUID4.match(pid)
        assert box == ["", "", "", ""] if target == "0" else all(re.fullmatch(r"\d+\.0", v) for v in box)
    labels = pd.read_csv(root / "stage_2_train_labels.csv")
    runs = (labels.patientId != labels.patientId.shift()).sum()
    assert runs == labels.patientId.nunique()  # rows of one id are contiguous
    assert not labels.patientId.is_monotonic_increasing
    boxes = labels[labels.Target == 1]
    assert ((boxes.x >= 0) & (boxes.x + boxes.width <= 1024) & (boxes.y + boxes.height <= 1024)).all()
    classes = pd.read_csv(root / "stage_2_detailed_class_info.csv")
    assert list(classes.columns) == ["patientId", "class"] and list(classes.patientId) == list(labels.patientId)
    assert set(classes["class"]) == {"Lung Opacity", "No Lung Opacity / Not Normal", "Normal"}
    assert ((classes["class"] == "Lung Opacity") == (labels.Target == 1)).all()


def test_rsna_dicoms_decode_with_the_kaggle_tags(world, truth):
    root = world / "rsna-pneumonia" / "stage_2_train_images"
    seen = set()
    for path in sorted(root.glob("*.dcm")):
        ds = pydicom.dcmread(path)
        assert ds.PatientID == path.stem and ds.Modality == "CR" and ds.BodyPartExamined == "CHEST"
        assert ds.ViewPosition in ("PA", "AP") and (ds.Rows, ds.Columns) == (1024, 1024)
        pixels = apply_modality_lut(ds.pixel_array, ds).astype(float)
        corner = np.concatenate([pixels[:40, :40].ravel(), pixels[-40:, -40:].ravel()]).mean()
        if ds.PhotometricInterpretation == "MONOCHROME1":  # stored inverted: empty background is white
            assert ds.file_meta.TransferSyntaxUID == pydicom.uid.JPEGBaseline8Bit and corner > 190
            seen.add("MONOCHROME1")
        elif ds.BitsAllocated == 16:
            assert ds.BitsStored == 12 and float(ds.RescaleSlope) == 1 / 16
            assert ds.file_meta.TransferSyntaxUID == pydicom.uid.RLELossless
            assert pixels.min() >= 0 and pixels.max() <= 255 and corner < 60
            seen.add("16-bit")
        else:
            assert ds.file_meta.TransferSyntaxUID == pydicom.uid.JPEGBaseline8Bit and corner < 60
            seen.add("MONOCHROME2")
        assert truth["rsna"][path.stem]["view"] == ds.ViewPosition
    assert seen == {"MONOCHROME1", "MONOCHROME2", "16-bit"}


@pytest.mark.parametrize("rle", [True, False])
def test_16_bit_rsna_files_give_back_every_grey_level_through_the_rescale(rle):
    plan = next(p for p in plan_rsna(0, get_scale("tiny")) if p.encoding == "int16")
    grey = np.tile(np.arange(256, dtype=np.uint8), (1024, 4))
    ds = pydicom.dcmread(io.BytesIO(dicom_bytes(plan, grey, seed=0, rle=rle)))
    expected = pydicom.uid.RLELossless if rle else pydicom.uid.ExplicitVRLittleEndian
    assert ds.file_meta.TransferSyntaxUID == expected and ds.BitsStored == 12 and ds.pixel_array.max() <= 4095
    np.testing.assert_array_equal(apply_modality_lut(ds.pixel_array, ds), grey)


def test_rsna_boxes_from_a_real_label_file_are_kept_exactly(tmp_path):
    labels = tmp_path / "stage_2_train_labels.csv"
    labels.write_text(REAL_RSNA_ROWS)
    real = {((264.0, 152.0, 213.0, 379.0), (562.0, 152.0, 256.0, 453.0)),
            ((323.0, 577.0, 160.0, 104.0), (695.0, 575.0, 162.0, 137.0))}
    plans = [p for p in plan_rsna(0, get_scale("tiny"), labels) if p.target]
    assert {tuple(p.real_boxes) for p in plans} <= real
    data, boxes = draw_rsna((plans[0], 0, True))
    assert tuple(boxes) in real and data[128:132] == b"DICM"


def test_bad_inputs_are_refused_with_a_clear_message(tmp_path):
    wrong = tmp_path / "labels.csv"
    wrong.write_text("patientId,Target\nabc,1\n")
    with pytest.raises(DatasetFormatError, match=r"labels\.csv: missing columns \['height', 'width', 'x', 'y'\]"):
        plan_rsna(0, get_scale("tiny"), wrong)
    with pytest.raises(ValueError, match="unknown toy-world scale 'huge'; choose one of tiny, small, full"):
        get_scale("huge")


# ---- NLI ----------------------------------------------------------------------------------------

def test_radnli_and_mednli_jsonl_fields_and_balanced_labels(world):
    for name in ("dev", "test"):
        rows = [json.loads(line) for line in (world / "radnli" / f"radnli_{name}_v1.jsonl").read_text().splitlines()]
        assert len(rows) == 60 and all(list(r) == ["pair_id", "sentence1", "sentence2", "gold_label"] for r in rows)
        assert [r["pair_id"] for r in rows] == [str(i) for i in range(60)]
        assert pd.Series([r["gold_label"] for r in rows]).value_counts().to_dict() == \
            {"entailment": 20, "neutral": 20, "contradiction": 20}
    keys = {"pairID", "gold_label", "sentence1", "sentence2", "sentence1_parse", "sentence2_parse",
            "sentence1_binary_parse", "sentence2_binary_parse"}
    ids = []
    for name, n in (("train", 300), ("dev", 60), ("test", 60)):
        rows = [json.loads(line) for line in (world / "mednli" / f"mli_{name}_v1.jsonl").read_text().splitlines()]
        assert len(rows) == n and all(set(r) == keys for r in rows)
        assert all(r["sentence1_parse"].startswith("(ROOT (S ") for r in rows)
        ids += [r["pairID"] for r in rows]
    assert len(set(ids)) == len(ids)
