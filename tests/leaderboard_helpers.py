"""Real runs on the committed toy world for the leaderboard and compare tests, computed once per test process,
and submission folders made from them.

- `weighed_run()`: a random small CNN whose meta records a weights checksum (as real adapters do), every task of the
  board it can run.
- `oracle_runs()`: ms-cxr by the box oracle (good maps) and by the same oracle with blurred, noised maps.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import json
import shutil
import tempfile
from importlib.metadata import version
from pathlib import Path

import torch

from adapters_for_tests import BoxOracleAdapter, RandomCNNAdapter, coverage_oracle
from toy_world import toy_world
from msxr_bench.adapters.base import AdapterMeta, EncoderAdapter
from msxr_bench.geometry.types import Geometry
from msxr_bench.geometry import smooth_grid
from msxr_bench.data.mscxr import find_mscxr_annotations, load_mscxr
from msxr_bench.evaluation import evaluate
from msxr_bench.leaderboard.board import BOARD
from msxr_bench.tasks.catalog import TASKS

WORLD = toy_world()  # the committed toy world (or the same world generated when the fixture predates a dataset)
N_BOOTSTRAP = 50
ORACLE_GEOMETRY = Geometry("resize_crop", resize=128, crop=128, grid=(16, 16))


@functools.cache
def _workdir() -> Path:
    path = Path(tempfile.mkdtemp(prefix="msxr-leaderboard-tests-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def _with_checksum(adapter: EncoderAdapter, tensors: list[torch.Tensor], name: str) -> EncoderAdapter:
    digest = hashlib.sha256()
    for t in tensors:
        digest.update(t.detach().cpu().contiguous().numpy().tobytes())
    adapter.meta = AdapterMeta(**{**adapter.meta.to_dict(), "name": name, "weights_sha256": digest.hexdigest(),
                                  "weights_revision": "seed-0", "training_data": ()})
    return adapter


def _run(adapter: EncoderAdapter, tasks: tuple[str, ...], out: Path, **options) -> Path:
    """`evaluate` on the toy track's splits: OUT/<adapter name>/ with the results files and run.json (tasks the
    adapter cannot run, like radnli for the random CNN, are skipped)."""
    options = {"bootstrap": N_BOOTSTRAP, **options}
    params = {task: {"split": BOARD[task].run_split("toyworld")} for task in tasks}
    evaluate(adapter, tasks, WORLD, task_params=params, output=out, device="cpu", num_workers=0, progress=False,
             argv=["tests"], **options)
    return out / adapter.meta.name


@functools.cache
def weighed_run() -> Path:
    """`OUTPUT/<model>/` of a random CNN (with a weights checksum) on every task of the toy world it can run."""
    cnn = RandomCNNAdapter(seed=0)
    adapter = _with_checksum(cnn, list(cnn.body.state_dict().values()), "test-random-cnn")
    return _run(adapter, tuple(t for t in TASKS if t in BOARD), _workdir() / "runs")


class DegradedOracle(BoxOracleAdapter):
    """The box oracle with blurred and noised maps: a planted regression of map quality."""

    def __init__(self, oracle: BoxOracleAdapter, noise: float = 0.35, seed: int = 0):
        gen = torch.Generator().manual_seed(seed)
        grids = {key: {cat: smooth_grid(g, 2.0) + noise * torch.randn(g.shape, generator=gen)
                       for cat, g in cats.items()}
                 for key, cats in sorted(oracle.grids.items())}
        super().__init__(oracle.geometry, grids, oracle.category_of)


@functools.cache
def _oracle() -> BoxOracleAdapter:
    samples = load_mscxr(find_mscxr_annotations(WORLD, "0.1"), WORLD)[0]
    return coverage_oracle(samples, ORACLE_GEOMETRY)


@functools.cache
def oracle_limited_run() -> Path:
    """ms-cxr of the box oracle on the first 20 samples only (--limit 20): another sample set."""
    return _run(_oracle(), ("ms-cxr",), _workdir() / "runs" / "limit-20", limit=20, bootstrap=0)


@functools.cache
def oracle_runs() -> tuple[Path, Path]:
    """(good, degraded) ms-cxr results files of the box oracle on the toy world."""
    good = _oracle()
    bad = DegradedOracle(good)
    paths = []
    for adapter, name in ((good, "oracle"), (bad, "oracle-degraded")):
        grids = [g for key in sorted(adapter.grids) for _, g in sorted(adapter.grids[key].items())]
        _with_checksum(adapter, grids, name)
        paths.append(_run(adapter, ("ms-cxr",), _workdir() / "runs") / "ms-cxr.json")
    return paths[0], paths[1]


def model_card(run: Path, model: str = "testorg/random-cnn", revision: str = "v1", **changes) -> dict:
    """A valid model.json for the results in `run` (their adapter name and weights checksum)."""
    result = json.loads(next(p for p in sorted(run.glob("*.json")) if p.name != "run.json").read_text())
    card = {
        "schema_version": "1.0.0", "model": model, "revision": revision,
        "display_name": f"{result['adapter']['name']} (tests)", "description": "made by the leaderboard tests",
        "adapter": {"name": result["adapter"]["name"], "package": "msxr-bench", "version": version("msxr-bench"),
                    "entry_point": None},
        "weights": {"source": "seeded random initialisation (tests)", "revision": "seed-0",
                    "sha256": result["adapter"]["meta"]["weights_sha256"]},
        "training": {"datasets": ["none (random initialisation)"], "mimic_cxr_overlap": False},
        "licence": "MIT", "contact": "tests@example.org",
    }
    card.update(changes)
    return card


def make_submission(root: Path, run: Path, model: str = "testorg/random-cnn", revision: str = "v1",
                    **changes) -> Path:
    """`root/<org>__<model>/<revision>/` holding model.json and copies of the results files (and run.json) of `run`."""
    folder = root / model.replace("/", "__") / revision
    folder.mkdir(parents=True)
    for f in run.glob("*.json"):
        shutil.copy(f, folder / f.name)
    (folder / "model.json").write_text(json.dumps(model_card(run, model, revision, **changes), indent=1))
    return folder


@functools.cache
def radnli_run() -> Path:
    """`radnli` (fine-tuning) of a toy text adapter on the toy world: 2 seeds, 2 epochs (fast, not the board's)."""
    from radnli_toy import ToyTextAdapter

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        (_workdir() / "toy-text").mkdir(exist_ok=True)
        adapter = ToyTextAdapter(_workdir() / "toy-text")
        params = {"radnli": {"seeds": (0, 1), "learning_rate": 2e-3, "max_length": 32, "max_epochs": 2}}
        evaluate(adapter, ["radnli"], WORLD, task_params=params, output=_workdir() / "runs", device="cpu",
                 bootstrap=N_BOOTSTRAP, progress=False, argv=["tests"])
        out = _workdir() / "runs" / "toy-text"
    finally:
        torch.set_num_threads(threads)
    return out


@functools.cache
def unranked_runs() -> list[Path]:
    """Results files of the tasks the board does not rank, on the toy world (the probes with a random CNN at their
    default split, text-intrinsics with the committed tiny BioViL, whose CXR-BERT has an MLM head)."""
    from msxr_bench.adapters.registry import build_adapter

    cnn = RandomCNNAdapter(seed=0)
    adapter = _with_checksum(cnn, list(cnn.body.state_dict().values()), "test-random-cnn")
    out = _workdir() / "runs" / "unranked"
    probes = ("rsna-cls-probe", "rsna-seg-probe")
    evaluate(adapter, probes, WORLD, output=out, device="cpu", num_workers=0, progress=False, argv=["tests"],
             bootstrap=N_BOOTSTRAP, task_params={t: {"seeds": [0, 1]} for t in probes})
    text = build_adapter("biovil", checkpoint=str(WORLD.parent / "models" / "tiny-biovil"))
    evaluate(text, ("text-intrinsics",), WORLD, output=out, device="cpu", num_workers=0, progress=False,
             argv=["tests"], bootstrap=N_BOOTSTRAP)
    return [out / "test-random-cnn" / f"{t}.json" for t in probes] + [out / "biovil" / "text-intrinsics.json"]
