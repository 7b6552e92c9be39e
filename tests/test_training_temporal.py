"""BioViL-T's temporal recipe: a mixed batch (some rows with a prior) is each row's own forward, the training items
carry the metadata's prior of their image, and the loop trains and exports a checkpoint that the BioViL-T adapter
loads with its two-image path."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from msxr_bench.adapters.base import IMAGE_PAIRS
from msxr_bench.adapters.biovil import build_biovil_t
from msxr_bench.data.images import load_image
from msxr_bench.data.mimic import find_mimic_roots, load_mimic_pairs
from msxr_bench.data.mimic_priors import prior_images
from msxr_bench.geometry import preprocess
from msxr_bench.models.biovil import BioViLImageModel
from msxr_bench.engine.distributed import Process
from msxr_bench.training.data import EpochBatchSampler
from msxr_bench.training.loop import TrainOptions, _batch_sampler, train
from msxr_bench.training.progression_batches import ProgressionBatchSampler
from msxr_bench.training.recipes import get_recipe
from msxr_bench.training.recipes.biovil_t import TINY_IMAGE_T, TINY_PRIOR_REPEATS
from msxr_bench.training.temporal_data import TemporalPairDataset
from toy_world import toy_world


def test_a_mixed_batch_is_each_rows_own_forward() -> None:
    torch.manual_seed(0)
    model = BioViLImageModel(TINY_IMAGE_T).eval()
    with torch.no_grad():  # random but not degenerate: the prior really moves the output
        model.encoder.missing_previous_emb.normal_()
        model.encoder.vit_pooler.type_embed.normal_()
    current, previous = torch.rand(5, 3, 128, 128), torch.rand(5, 3, 128, 128)
    has = torch.tensor([True, False, True, True, False])
    with torch.no_grad():
        mixed = model(current, previous, has)
        paired = model(current[has], previous[has])
        alone = model(current[~has])
        assert (paired - model(current[has])).abs().max() > 1e-3
    assert torch.allclose(mixed[has], paired, atol=1e-5) and torch.allclose(mixed[~has], alone, atol=1e-5)
    with torch.no_grad():
        assert torch.equal(model(current, previous, torch.zeros(5, dtype=torch.bool)), model(current))
        assert torch.allclose(model(current, previous, torch.ones(5, dtype=torch.bool)), model(current, previous))


def test_training_items_carry_the_metadata_prior(tmp_path: Path) -> None:
    world = toy_world()
    truth = json.loads((world / "toyworld-temporal.json").read_text())
    recipe = get_recipe("biovil-t", "tiny")
    jpg, reports = find_mimic_roots(world)
    pairs, _ = load_mimic_pairs(jpg, reports, "train", True, recipe.settings.text.loader_section)
    canvas = recipe.settings.canvas_geometry()
    dataset, val_set, _ = recipe.training_sets(world, 0)
    assert [p.dicom_id for p in dataset.pairs] == [p.dicom_id for p in pairs] and val_set is not None
    priors, _ = prior_images(jpg)
    assert [p.dicom_id if p else None for p in dataset.priors] == [
        priors[p.dicom_id].dicom_id if p.dicom_id in priors else None for p in dataset.pairs]
    with_prior = [i for i, p in enumerate(dataset.priors) if p is not None]
    assert len(with_prior) >= 10 and len(with_prior) < len(dataset)  # subjects with several studies, and first studies
    for i in with_prior[:5]:
        item = dataset[(0, i)]
        expected = (preprocess(load_image(dataset.priors[i].path), canvas)[0] * 255).round().to(torch.uint8)
        assert item["has_prior"] and torch.equal(item["prior_image"], expected)
    index = {p.dicom_id: i for i, p in enumerate(dataset.pairs)}
    temporal = [s for s in truth["subjects"] if s["split"] == "train"]
    assert temporal and all(dataset.priors[index[s["current"]]].dicom_id == s["prior"] for s in temporal)
    first = next(i for i, p in enumerate(dataset.priors) if p is None)
    assert dataset[(0, first)]["has_prior"] is False and not dataset[(0, first)]["prior_image"].any()
    batch = recipe.collate([dataset[(0, i)] for i in range(4)], recipe.make_tokenizer(dataset.corpus(), tmp_path), 0)
    assert batch["previous_images"].shape == batch["images"].shape
    assert batch["has_previous"].dtype == torch.bool


def test_the_tiny_recipe_shows_rows_with_a_prior_repeatedly() -> None:
    world = toy_world()
    recipe = get_recipe("biovil-t", "tiny")
    dataset, val_set, _ = recipe.training_sets(world, 0)
    n, with_prior = len(dataset.pairs), [i for i, p in enumerate(dataset.priors) if p is not None]
    assert TINY_PRIOR_REPEATS == 3 and len(dataset) == n + 2 * len(with_prior)
    assert val_set is not None and len(val_set) == len(val_set.pairs)  # validation rows once each
    assert sorted(dataset.slots) == sorted(list(range(n)) + 2 * with_prior)
    last = dataset[(1, len(dataset) - 1)]
    original = dataset[(1, with_prior[-1])]
    assert last["index"] == with_prior[-1] and last["caption"] == original["caption"] and last["has_prior"]
    assert torch.equal(last["image"], original["image"]) and torch.equal(last["prior_image"], original["prior_image"])
    with pytest.raises(ValueError, match="prior_repeats"):
        TemporalPairDataset(dataset.pairs, recipe.settings.canvas_geometry(), recipe.settings.text, 0, {},
                            prior_repeats=0)


def test_the_tiny_recipe_batches_progression_contrasts() -> None:
    """BioViL-T's tiny recipe: progression-contrast batches; BioViL's: random ones (training/loop._batch_sampler)."""
    world, process = toy_world(), Process()  # rank 0 of 1
    temporal, plain_recipe = get_recipe("biovil-t", "tiny"), get_recipe("biovil", "tiny")
    dataset = temporal.training_sets(world, 0)[0]
    sampler = _batch_sampler(temporal, dataset, 0, 0, process, 0)
    assert isinstance(sampler, ProgressionBatchSampler) and len(list(sampler)) == len(sampler)
    plain = _batch_sampler(plain_recipe, dataset, 0, 0, process, 0)
    assert type(plain) is EpochBatchSampler


@pytest.mark.slow
def test_a_short_run_exports_a_biovil_t_checkpoint_with_the_two_image_path(tmp_path: Path, one_torch_thread) -> None:
    checkpoint = train(TrainOptions(model="biovil-t", data_root=toy_world(), output=tmp_path / "run", config="tiny",
                                    max_steps=3, batch_size=8, device="cpu", progress=False))
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in log if "loss" in r and "split" not in r]
    assert len(losses) == 3 and all(torch.isfinite(torch.tensor(losses)))
    assert any(r.get("split") == "validate" for r in log)  # validation ran on centre views of both images
    settings = json.loads((tmp_path / "run" / "run.json").read_text())["recipe"]["settings"]
    assert settings["batching"] == "progression-contrast"  # recorded with the run
    assert settings["augmentation"]["brightness"] == settings["augmentation"]["contrast"] == [1.0, 1.0]
    adapter = build_biovil_t(checkpoint=str(checkpoint))
    assert IMAGE_PAIRS in adapter.capabilities and adapter.geometry.grid == (4, 4)
    x = torch.rand(2, 3, 128, 128)
    with torch.no_grad():
        assert (adapter.encode_image_pairs(x, x.flip(0)).global_ - adapter.encode_images(x).global_).abs().max() > 0


def test_cxr_bert_batches_progression_contrasts_by_the_impression() -> None:
    """--batching progression-contrast on cxr-bert groups reports by their impression's finding and change."""
    from types import SimpleNamespace

    from msxr_bench.training.progression_batches import finding_key, progression_of

    recipe = get_recipe("cxr-bert", "tiny")
    dataset = recipe.training_sets(toy_world(), 0)[0]
    text = recipe.batching_text(dataset)
    assert [text(0, i) for i in range(len(dataset))] == [p.sections.get("impression") or "" for p in dataset.pairs]
    recipe.settings = replace(recipe.settings, batching="progression-contrast")
    sampler = _batch_sampler(recipe, dataset, 0, 0, Process(), 0)
    assert isinstance(sampler, ProgressionBatchSampler) and len(list(sampler)) == len(sampler)
    # reports whose findings are alike and whose impressions differ only in the change end up side by side
    impressions = [f"{change} {side} pleural effusion." for side in ("left", "right") for _ in range(20)
                   for change in ("Worsening", "Stable", "Improving")]
    reports = SimpleNamespace(pairs=[SimpleNamespace(sections={"findings": "Effusion.", "impression": i})
                                     for i in impressions])
    text = recipe.batching_text(reports)

    def contrasts(batches: list) -> int:
        keys = [[(finding_key(text(0, i)), progression_of(text(0, i))) for _, i in b] for b in batches]
        return sum(a[0] == c[0] and a[1] != c[1] for k in keys for j, a in enumerate(k) for c in k[j + 1:])

    grouped = contrasts(ProgressionBatchSampler(len(impressions), 12, epoch=0, seed=0, caption=text))
    assert grouped >= 10 * 12  # every batch: 4 whole chunks (worsening, stable, improving of one side), 3 each
    assert grouped > contrasts(EpochBatchSampler(len(impressions), 12, epoch=0, seed=0))


def test_train_records_a_batching_override_and_refuses_an_unknown_one(tmp_path: Path, one_torch_thread) -> None:
    opts = dict(model="cxr-bert", data_root=toy_world(), config="tiny", max_steps=2, batch_size=8, device="cpu",
                progress=False)
    train(TrainOptions(output=tmp_path / "run", batching="progression-contrast", **opts))
    settings = json.loads((tmp_path / "run" / "run.json").read_text())["recipe"]["settings"]
    assert settings["batching"] == "progression-contrast"
    with pytest.raises(ValueError, match="batching must be one of"):
        train(TrainOptions(output=tmp_path / "bad", batching="hard-negatives", **opts))


def test_lock_text_trains_the_image_side_only_and_is_recorded(tmp_path: Path, one_torch_thread) -> None:
    """--lock-text (LiT): the exported text tower is the --text-model it started from, the image side moved."""
    from msxr_bench.training.recipes.biovil import pretrained_text_model

    text_model = str(Path(__file__).parent.parent / "fixtures" / "models" / "tiny-cxr-bert")
    opts = dict(model="biovil-t", data_root=toy_world(), config="tiny", max_steps=2, batch_size=8, device="cpu",
                progress=False, text_model=text_model)
    checkpoint = train(TrainOptions(output=tmp_path / "lit", lock_text=True, **opts))
    settings = json.loads((tmp_path / "lit" / "run.json").read_text())["recipe"]["settings"]
    assert settings["lock_text"] is True
    start = pretrained_text_model(text_model, TINY_IMAGE_T.joint_feature_size).state_dict()
    trained = build_biovil_t(checkpoint=str(checkpoint)).text_model.state_dict()
    assert trained.keys() == start.keys() and all(torch.equal(trained[k], start[k]) for k in start)
    init = torch.load(tmp_path / "lit" / "train_state.pt", weights_only=False)["module"]
    torch.manual_seed(0)
    fresh = get_recipe("biovil-t", "tiny", text_model).build(get_recipe("biovil-t", "tiny", text_model)
                                                             .load_tokenizer(tmp_path / "lit" / "tokenizer"))
    moved = [k for k, v in fresh.image_model.state_dict().items()
             if v.dtype.is_floating_point and not torch.equal(v, init[f"image_model.{k}"])]
    assert moved  # the image side trained
    with pytest.raises(ValueError, match="no text tower beside an image model"):
        train(TrainOptions(model="cxr-bert", data_root=toy_world(), output=tmp_path / "bad", config="tiny",
                           max_steps=1, batch_size=8, device="cpu", progress=False, lock_text=True,
                           text_model=text_model))
    with pytest.raises(ValueError, match="needs --text-model"):
        train(TrainOptions(**{**opts, "text_model": None}, output=tmp_path / "random", lock_text=True))


def test_temperature_sets_rsm_tau_of_cxr_bert_only(tmp_path: Path, one_torch_thread) -> None:
    recipe = get_recipe("cxr-bert", "tiny")
    recipe.settings = replace(recipe.settings, temperature=0.1)
    assert recipe.rsm_tau == 0.1 and get_recipe("cxr-bert", "tiny").rsm_tau == 0.5
    train(TrainOptions(model="cxr-bert", data_root=toy_world(), output=tmp_path / "t", config="tiny", max_steps=1,
                       batch_size=8, device="cpu", progress=False, temperature=0.1))
    assert json.loads((tmp_path / "t" / "run.json").read_text())["recipe"]["settings"]["temperature"] == 0.1
    with pytest.raises(ValueError, match="no contrastive temperature"):
        train(TrainOptions(model="biovil", data_root=toy_world(), output=tmp_path / "b", config="tiny", max_steps=1,
                           batch_size=8, device="cpu", progress=False, temperature=0.1))


def test_resume_refuses_another_batching_temperature_or_lock() -> None:
    from msxr_bench.training.train_state import check_compatible

    run = {"model": "cxr-bert", "config": "tiny", "world_size": 1, "seed": 0, "batch_size": 8,
           "recipe": {"settings": {"batching": "random", "temperature": None, "lock_text": False}}}
    check_compatible({"run": {k: v for k, v in run.items() if k != "recipe"}}, run, Path("state"))  # older state
    for key, value in (("batching", "progression-contrast"), ("temperature", 0.1), ("lock_text", True)):
        other = {**run, "recipe": {"settings": {**run["recipe"]["settings"], key: value}}}
        with pytest.raises(ValueError, match=f"{key}="):
            check_compatible({"run": other}, run, Path("state"))
