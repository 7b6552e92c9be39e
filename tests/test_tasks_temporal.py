"""ms-cxr-t-cls and ms-cxr-t-sim on the toy world, against independent computations: scores are cosines recomputed
here from the adapter's own embeddings of the files, metrics are scikit-learn's, protocols partition the rows as
their rules say, the threshold of a sentence pair is the brute-force best on the other folds, and no dataset text
reaches a row unless --keep-text."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import accuracy_score, balanced_accuracy_score, roc_auc_score

from adapters_for_tests import RandomCNNAdapter
from msxr_bench.adapters.base import GLOBAL, IMAGE_PAIRS, TEXT, AdapterMeta, EncoderAdapter, ImageEmbeddings
from msxr_bench.data.images import load_image
from msxr_bench.data.mscxr_t import FINDINGS, IMAGE_FILE, PROGRESSIONS, SENTENCE_FILE, load_progression
from msxr_bench.geometry import preprocess
from msxr_bench.geometry.types import Geometry
from msxr_bench.tasks.spec import TaskParamsError
from msxr_bench.tasks.temporal.similarity import best_threshold
from msxr_bench.tasks.temporal.spec import DEFAULT_PROMPTS
from task_helpers import run_named
from toy_world import toy_world


@pytest.fixture(scope="module")
def world():
    return toy_world()


def _text_vectors(texts: list[str], dim: int) -> torch.Tensor:
    """Seeded random unit vectors per text (the same text, the same vector)."""
    out = []
    for t in texts:
        g = torch.Generator().manual_seed(sum(ord(c) * (i + 1) for i, c in enumerate(t)) % (2**31))
        out.append(torch.randn(dim, generator=g))
    return F.normalize(torch.stack(out), dim=-1)


class GreyPairs(EncoderAdapter):
    """image_pairs + text: global = L2([mean grey of current, of prior (or -1), 0.3, ...]); texts: seeded vectors."""

    capabilities = frozenset({GLOBAL, TEXT, IMAGE_PAIRS})

    def __init__(self, training_data: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.meta = AdapterMeta(name="grey-pairs", version="0", weights_source="none", embedding_dim=4,
                                training_data=training_data)
        self.geometry = Geometry("resize_crop", resize=64, crop=64, grid=(1, 1))

    def encode_image_pairs(self, current: torch.Tensor, previous: torch.Tensor | None) -> ImageEmbeddings:
        prior = previous.mean(dim=(1, 2, 3)) if previous is not None else -torch.ones(current.shape[0])
        cur = current.mean(dim=(1, 2, 3))
        raw = torch.stack([cur, prior, torch.full_like(prior, 0.3), (cur - 0.5) * (prior - 0.5)], dim=1)
        return ImageEmbeddings(global_=F.normalize(raw, dim=-1))

    def encode_images(self, images: torch.Tensor) -> ImageEmbeddings:
        return self.encode_image_pairs(images, None)

    def encode_texts(self, texts: list[str], normalize: bool = True) -> torch.Tensor:
        return _text_vectors(list(texts), 4)


def _input(adapter, path) -> torch.Tensor:
    return preprocess(load_image(path), adapter.geometry)[None]


def _check_metrics_with_sklearn(result) -> None:
    rows = pd.DataFrame(result.samples)
    accs, macros = [], []
    for f in FINDINGS:
        part = rows[rows.finding == f]
        if part.empty:
            assert result.metrics[f"accuracy_{f}"].value is None
            continue
        acc = accuracy_score(part.label, part.predicted)
        macro = balanced_accuracy_score(part.label, part.predicted) if part.label.nunique() > 1 else acc
        assert result.metrics[f"accuracy_{f}"].value == pytest.approx(acc, abs=1e-12)
        assert result.metrics[f"macro_accuracy_{f}"].value == pytest.approx(macro, abs=1e-12)
        accs.append(acc)
        macros.append(macro)
    assert result.metrics["accuracy"].value == pytest.approx(np.mean(accs), abs=1e-12)
    assert result.metrics["macro_accuracy"].value == pytest.approx(np.mean(macros), abs=1e-12)
    assert result.metrics["accuracy_micro"].value == pytest.approx(accuracy_score(rows.label, rows.predicted))
    assert result.main_score.value == result.metrics["macro_accuracy"].value


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_zero_shot_on_the_current_image_alone_with_overridden_prompts(world) -> None:
    adapter = RandomCNNAdapter(seed=0)
    prompts = {"edema": {"worsening": "Edema is worse than before"}}
    result = run_named("ms-cxr-t-cls", {"prompts": prompts}, adapter=adapter, data_root=world, n_bootstrap=20)
    assert result.scoring["image_input"] == "current only (no image_pairs capability)"
    assert result.scoring["prompts"]["edema"] == {**DEFAULT_PROMPTS["edema"], "worsening": "Edema is worse than before"}
    assert result.scoring["prompts"]["pneumonia"] == DEFAULT_PROMPTS["pneumonia"]
    samples = {s.sample_id: s for s in load_progression(world / "ms-cxr-t" / IMAGE_FILE, world)[0]}
    assert len(result.samples) == len(samples) == result.dataset.n_samples
    with torch.no_grad():
        for row in result.samples:
            s = samples[row["sample_id"]]
            image = F.normalize(adapter.encode_images(_input(adapter, s.image_path)).global_, dim=-1)[0]
            texts = adapter.encode_texts([result.scoring["prompts"][s.finding][c] for c in PROGRESSIONS])
            cos = (texts @ image).double()
            assert [row[f"score_{c}"] for c in PROGRESSIONS] == pytest.approx(cos.tolist(), abs=1e-6)
            assert row["predicted"] == PROGRESSIONS[int(cos.argmax())] and row["label"] == s.label
    _check_metrics_with_sklearn(result)
    assert {c.category for c in result.per_category} == {r["finding"] for r in result.samples}


def test_an_image_pairs_adapter_is_scored_on_current_and_prior(world) -> None:
    adapter = GreyPairs()
    result = run_named("ms-cxr-t-cls", {}, adapter=adapter, data_root=world, n_bootstrap=20)
    alone = run_named("ms-cxr-t-cls", {"image_input": "current-only"}, adapter=adapter, data_root=world, n_bootstrap=0)
    assert result.scoring["image_input"] == "current + prior"
    assert alone.scoring["image_input"] == "current only (asked: image_input=current-only)"
    samples = {s.sample_id: s for s in load_progression(world / "ms-cxr-t" / IMAGE_FILE, world)[0]}
    for row, row_alone in zip(result.samples, alone.samples):
        s = samples[row["sample_id"]]
        image = adapter.encode_image_pairs(_input(adapter, s.image_path), _input(adapter, s.previous_image_path))
        texts = adapter.encode_texts([DEFAULT_PROMPTS[s.finding][c] for c in PROGRESSIONS])
        assert [row[f"score_{c}"] for c in PROGRESSIONS] == pytest.approx((texts @ image.global_[0]).tolist(),
                                                                          abs=1e-6)
        image = adapter.encode_images(_input(adapter, s.image_path))
        assert [row_alone[f"score_{c}"] for c in PROGRESSIONS] == pytest.approx(
            (texts @ image.global_[0]).tolist(), abs=1e-6)
    _check_metrics_with_sklearn(result)


def test_label_quality_filter_is_recorded_and_selects_those_labels(world) -> None:
    table = pd.read_csv(world / "ms-cxr-t" / IMAGE_FILE, dtype=str, keep_default_na=False)
    wanted = sum((table[f"{f}_label_quality"] == "multiple_experts").sum() for f in FINDINGS)
    result = run_named("ms-cxr-t-cls", {"label_quality": ["multiple_experts"]}, adapter=GreyPairs(),
                       data_root=world, n_bootstrap=0)
    assert result.dataset.n_samples == wanted > 0
    assert result.scoring["label_quality"] == ["multiple_experts"]
    assert result.scoring["split"]["label_quality"]["filter"] == ["multiple_experts"]
    assert result.scoring["parameters"]["label_quality"] == ["multiple_experts"]


def _ids(task_params: dict, world, adapter=None):
    result = run_named("ms-cxr-t-cls", task_params, adapter=adapter or GreyPairs(), data_root=world, n_bootstrap=0)
    return result, {r["sample_id"]: r["subject_id"] for r in result.samples}


def test_subject_split_partitions_the_rows_by_subject(world) -> None:
    everything = _ids({}, world)[1]
    parts = {split: _ids({"protocol": "subject-70-10-20", "split": split}, world) for split in ("train", "val", "test")}
    assert sorted(i for _, ids in parts.values() for i in ids) == sorted(everything)
    subjects = {split: set(ids.values()) for split, (_, ids) in parts.items()}
    assert not (subjects["train"] & subjects["test"]) and not (subjects["val"] & subjects["test"])
    n = len(set(everything.values()))
    assert len(subjects["train"]) == round(0.7 * n) and len(subjects["val"]) == round(0.1 * n)
    result = parts["test"][0]
    assert (result.dataset.split, result.dataset.split_scheme, result.protocol.name) == ("test", "subject-70-10-20",
                                                                                        "subject-70-10-20")
    record = result.scoring["split"]
    assert record["seed"] == 0 and set(record["subjects_sha256"]) == {"train", "val", "test"}
    again = _ids({"protocol": "subject-70-10-20", "split": "test"}, world)[0]
    assert again.dataset.sample_ids_sha256 == result.dataset.sample_ids_sha256


def test_mimic_split_protocol_flags_contamination_for_mimic_trained_models(world) -> None:
    split_table = pd.read_csv(world / "mimic-cxr-jpg" / "mimic-cxr-2.0.0-split.csv.gz", dtype=str)
    split_of_study = dict(zip(split_table.study_id, split_table.split))
    samples = load_progression(world / "ms-cxr-t" / IMAGE_FILE, world)[0]
    mimic_model = GreyPairs(training_data=("MIMIC-CXR",))
    for split in ("train", "validate", "test"):
        result, ids = _ids({"protocol": "mimic-split", "split": split}, world, mimic_model)
        assert set(ids) == {s.sample_id for s in samples if split_of_study[s.study_id] == split}
        flagged = result.scoring["contamination"]
        assert flagged["contaminated"] == (split == "train") and flagged["rows_in_mimic_train"] == (
            len(ids) if split == "train" else 0)
        assert bool(result.notes) == (split == "train")
    clean = _ids({"protocol": "mimic-split", "split": "train"}, world)[0]
    assert clean.scoring["contamination"]["contaminated"] is False and not clean.notes
    with pytest.raises(TaskParamsError, match="unknown split"):
        _ids({"protocol": "mimic-split", "split": "all"}, world)


def test_linear_probe_predicts_every_label_from_other_subjects(world) -> None:
    result = run_named("ms-cxr-t-cls", {"mode": "linear-probe", "probe_folds": 3, "probe_max_iter": 30}, adapter=GreyPairs(),
                       data_root=world, n_bootstrap=0)
    probe = result.scoring["probe"]
    assert probe["folds"] == 3 and probe["seed"] == 0 and result.scoring["mode"] == "linear-probe"
    skipped = sum(s.total for s in result.skipped)
    assert len(result.samples) + skipped == result.dataset.n_samples
    for finding in {r["finding"] for r in result.samples}:
        rows = [r for r in result.samples if r["finding"] == finding]
        fold_of_subject: dict[str, int] = {}
        for r in rows:
            assert fold_of_subject.setdefault(r["subject_id"], r["fold"]) == r["fold"]  # one fold per subject
            assert sum(r[f"score_{c}"] for c in PROGRESSIONS) == pytest.approx(1.0)
    _check_metrics_with_sklearn(result)


def _sentences(world) -> pd.DataFrame:
    return pd.read_csv(world / "ms-cxr-t" / SENTENCE_FILE, dtype=str, keep_default_na=False)


def test_sentence_similarity_auc_and_cross_fitted_thresholds(world) -> None:
    adapter = RandomCNNAdapter(seed=0)
    result = run_named("ms-cxr-t-sim", {}, adapter=adapter, data_root=world, n_bootstrap=20)
    table = _sentences(world)
    with torch.no_grad():
        cos = (adapter.encode_texts(list(table.sentence_1)) * adapter.encode_texts(list(table.sentence_2))).sum(-1)
    rows = result.samples
    assert [r["sample_id"] for r in rows] == [str(i + 1) for i in range(len(table))]
    assert [r["cosine"] for r in rows] == pytest.approx(cos.double().tolist(), abs=1e-6)
    positive = np.array([r["label"] == "paraphrase" for r in rows])
    scores = np.array([r["cosine"] for r in rows])
    assert result.metrics["roc_auc"].value == pytest.approx(roc_auc_score(positive, scores), abs=1e-12)
    folds = np.array([r["fold"] for r in rows])
    assert sorted(set(folds)) == [0, 1, 2, 3, 4] and result.scoring["threshold_folds"] == 5
    for k in range(5):
        train = folds != k
        candidates = np.unique(scores[train])
        candidates = np.concatenate([[candidates[0] - 1], (candidates[1:] + candidates[:-1]) / 2, [candidates[-1] + 1]])
        acc = np.array([((scores[train] >= t) == positive[train]).mean() for t in candidates])
        tied = candidates[acc == acc.max()]
        expected = tied[(len(tied) - 1) // 2]  # chosen without the fold's own pairs
        assert [r["threshold"] for r, f in zip(rows, folds) if f == k] == pytest.approx(
            [expected] * int((folds == k).sum()), abs=1e-12)
    correct = [(r["cosine"] >= r["threshold"]) == (r["label"] == "paraphrase") for r in rows]
    assert result.metrics["accuracy"].value == pytest.approx(np.mean(correct))
    gap = scores[positive].mean() - scores[~positive].mean()
    assert result.metrics["similarity_gap"].value == pytest.approx(gap, abs=1e-12)
    assert all("sentence_1" not in r and "sentence_2" not in r for r in rows) and not result.contains_dataset_text
    kept = run_named("ms-cxr-t-sim", {}, adapter=adapter, data_root=world, n_bootstrap=0, keep_text=True)
    assert kept.contains_dataset_text and kept.samples[0]["sentence_1"] == table.sentence_1[0]


def test_best_threshold_by_hand() -> None:
    assert best_threshold(torch.tensor([0.1, 0.4, 0.35, 0.8]), torch.tensor([0, 1, 0, 1])) == pytest.approx(0.375)
    # candidates -0.9, 0.25 and 0.45 each get 3 of 5 right: the median of the tied candidates
    assert best_threshold(torch.tensor([0.1, 0.2, 0.3, 0.4, 0.5]), torch.tensor([1, 0, 1, 0, 1])) == pytest.approx(0.25)
    # two tied (-0.9: all paraphrase, 0.25): the lower one
    assert best_threshold(torch.tensor([0.1, 0.2, 0.3, 0.4]), torch.tensor([1, 0, 1, 1])) == pytest.approx(-0.9)
    assert best_threshold(torch.tensor([0.5, 0.5]), torch.tensor([1, 1])) == pytest.approx(-0.5)
