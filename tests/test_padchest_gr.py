"""PadChest-GR: the toy files (own writer, own stream) in the release layout, the loader's fields and checks, and
`padchest-gr` end to end with phrases that have no box (generalised grounding)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from msxr_bench.adapters.base import BOXES, AdapterMeta, EncoderAdapter, PredictedBox
from msxr_bench.adapters.centre_box import CentreBoxAdapter
from msxr_bench.data.images import load_image
from msxr_bench.data.padchest_gr import find_padchest_gr, load_padchest_gr
from msxr_bench.data.types import DatasetFormatError
from msxr_bench.geometry import preprocess
from msxr_bench.geometry.boxes import boxes_to_input
from msxr_bench.geometry.types import Geometry
from msxr_bench.leaderboard.checks import check_metrics
from msxr_bench.toyworld.writers.padchest_gr import write_padchest_gr
from adapters_for_tests import crop_key
from task_helpers import run_named

DOCUMENTED_FIELDS = {"sentence_en", "sentence_es", "abnormal", "boxes", "extra_boxes", "labels", "locations",
                     "progression"}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("padchest")
    write_padchest_gr(out / "padchest-gr", seed=0, n_images=24)
    return out


def _hashes(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_toy_files_are_deterministic_and_in_the_release_layout(root: Path, tmp_path: Path) -> None:
    write_padchest_gr(tmp_path / "again", seed=0, n_images=24)
    assert _hashes(tmp_path / "again") == _hashes(root / "padchest-gr")
    records = json.loads((root / "padchest-gr" / "grounded_reports_20240819.json").read_text())
    assert {k for r in records for k in r} == {"StudyID", "ImageID", "findings"}
    findings = [f for r in records for f in r["findings"]]
    assert {k for f in findings for k in f} <= DOCUMENTED_FIELDS
    assert any("boxes" not in f and f["abnormal"] is False for f in findings)  # phrases without boxes
    assert any(len(f.get("boxes", [])) > 1 for f in findings)  # phrases with several boxes
    image = root / "padchest-gr" / "PadChest_GR" / records[0]["ImageID"]
    from PIL import Image

    with Image.open(image) as im:
        assert im.mode.startswith("I;16")  # 16-bit, as the release
    pixels = load_image(image)
    assert pixels.dtype == np.uint8 and pixels.max() > 200


def test_loader_reads_boxes_splits_and_categories(root: Path) -> None:
    files = find_padchest_gr(root)
    samples, skips = load_padchest_gr(files)
    records = json.loads(files.reports.read_text())
    assert skips.total == 0 and len(samples) == sum(len(r["findings"]) for r in records)
    first = records[0]
    k = next(i for i, f in enumerate(first["findings"]) if f.get("boxes"))
    s = next(x for x in samples if x.sample_id == f"{Path(first['ImageID']).stem}/{k}")
    h, w = s.image_size
    x1, y1, x2, y2 = first["findings"][k]["boxes"][0]
    assert (s.boxes[0].x, s.boxes[0].y, s.boxes[0].x2, s.boxes[0].y2) == pytest.approx((x1 * w, y1 * h, x2 * w, y2 * h))
    table = {line.split(",")[0]: line.split(",")[5] for line in files.master.read_text().splitlines()[1:]}
    assert all(x.split == table[f"{x.dicom_id}.png"] for x in samples)
    assert {x.category for x in samples if not x.boxes} <= {"normal", "other"} and any(not x.boxes for x in samples)
    tests = load_padchest_gr(files, "test")[0]
    assert tests and all(x.split == "test" for x in tests)


def test_bad_records_are_counted_or_named(root: Path, tmp_path: Path) -> None:
    shutil.copytree(root / "padchest-gr", tmp_path / "padchest-gr")
    files = find_padchest_gr(tmp_path)
    records = json.loads(files.reports.read_text())
    records[0]["findings"][0]["sentence_en"] = ""
    records[1]["findings"].append({"sentence_en": "x", "boxes": [[0.5, 0.5, 0.2, 0.9]]})
    (files.images / records[2]["ImageID"]).unlink()
    files.reports.write_text(json.dumps(records))
    samples, skips = load_padchest_gr(files)
    assert skips.counts == {"finding without sentence_en": 1, "missing image": 1,
                            "finding with a malformed box (not normalised x1, y1, x2, y2)": 1}
    files.master.unlink()
    with pytest.raises(DatasetFormatError, match="no PadChest-GR release"):
        find_padchest_gr(tmp_path)


class TruthBoxes(EncoderAdapter):
    """Predicts the true boxes, and none for a phrase that has none."""

    capabilities = frozenset({BOXES})

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.geometry = Geometry("resize_crop", 512, 512, (1, 1))
        self.meta = AdapterMeta(name="test-truth", version="1", description="truth", weights_source="oracle")
        self.table = {}
        for s in load_padchest_gr(find_padchest_gr(root))[0]:
            xyxy = torch.tensor([[b.x, b.y, b.x2, b.y2] for b in s.boxes], dtype=torch.float64).reshape(-1, 4)
            mapped = boxes_to_input(xyxy, self.geometry, *s.image_size).tolist()
            key = (crop_key(preprocess(load_image(s.image_path), self.geometry)), s.phrase)
            self.table[key] = [PredictedBox(a, b, c - a, d - b, 0.8) for a, b, c, d in mapped]

    def predict_boxes(self, images: torch.Tensor, phrases: list[str]) -> list[list[PredictedBox]]:
        return [self.table[(crop_key(i), p)] for i, p in zip(images, phrases)]


def test_padchest_gr_end_to_end_with_phrases_without_boxes(root: Path, tmp_path: Path) -> None:
    truth = run_named("padchest-gr", {"split": "all"}, adapter=TruthBoxes(root), data_root=root, n_bootstrap=20)
    m = truth.metrics
    assert m["groundability_precision"].value == m["groundability_recall"].value == 1.0
    assert m["union_iou_micro"].value == pytest.approx(1.0) and m["map"].value == pytest.approx(1.0)
    centre = run_named("padchest-gr", {"split": "all"}, adapter=CentreBoxAdapter(), data_root=root, n_bootstrap=0)
    rows = centre.samples
    groundable = sum(1 for r in rows if r["n_true_boxes"] > 0)
    assert 0 < groundable < len(rows)
    assert centre.metrics["groundability_precision"].value == pytest.approx(groundable / len(rows))
    assert centre.metrics["groundability_recall"].value == 1.0
    assert all(r["union_iou"] is None for r in rows if r["n_true_boxes"] == 0)
    assert {k for r in rows for k, v in r.items() if isinstance(v, str)} == {"sample_id", "image_id", "category"}
    assert truth.dataset.name == "PadChest-GR" and truth.dataset.version == "20240819"
    for result in (truth, centre):
        path = tmp_path / "r.json"
        path.write_text(result.model_dump_json())
        assert check_metrics(path, result) == []
