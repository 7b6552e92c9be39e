"""Real runs on the committed toy world for the leaderboard and compare tests, computed once per test process,
and submission folders made from them.

- `weighed_run()`: a random small CNN whose meta records a weights checksum (as real adapters do), all 4 tasks.
- `oracle_runs()`: ms-cxr by the box oracle (good maps) and by the same oracle with blurred, noised maps.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import json
import shutil
import tempfile
from dataclasses import replace
from importlib.metadata import version
from pathlib import Path

import torch

from adapters_for_tests import BoxOracleAdapter, RandomCNNAdapter, coverage_oracle
from msxr_bench.adapters.base import AdapterMeta, EncoderAdapter
from msxr_bench.geometry.types import Geometry
from msxr_bench.geometry import smooth_grid
from msxr_bench.data.mscxr import find_mscxr_annotations, load_mscxr
from msxr_bench.engine import resolve_runtime
from msxr_bench.leaderboard.board import BOARD
from msxr_bench.results import write_result
from msxr_bench.tasks import TASKS, EvalContext, TaskSkipped

WORLD = Path(__file__).resolve().parents[1] / "fixtures" / "toyworld"
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


def _run(adapter: EncoderAdapter, name: str, tasks: tuple[str, ...], out: Path, **options) -> Path:
    options = {"n_bootstrap": N_BOOTSTRAP, **options}
    ctx = EvalContext(adapter=adapter, adapter_name=name, runtime=resolve_runtime("cpu"), data_root=WORLD,
                      num_workers=0, progress=False, argv=["tests"], **options)
    for task in tasks:  # what `evaluate` writes, without its bar chart, on the toy track's splits
        try:
            write_result(TASKS[task].run(replace(ctx, split=BOARD[task].run_split("toyworld"))), out / f"{task}.json")
        except TaskSkipped:  # radnli: the random CNN has no text encoder to fine-tune
            continue
    return out


@functools.cache
def weighed_run() -> Path:
    """`OUTPUT/<model>/` of a random CNN (with a weights checksum) on every task of the toy world it can run."""
    cnn = RandomCNNAdapter(seed=0)
    adapter = _with_checksum(cnn, list(cnn.body.state_dict().values()), "test-random-cnn")
    return _run(adapter, "test-random-cnn", tuple(TASKS), _workdir() / "runs" / "test-random-cnn")


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
    return _run(_oracle(), "oracle", ("ms-cxr",), _workdir() / "runs" / "oracle-limit-20", limit=20, n_bootstrap=0)


@functools.cache
def oracle_runs() -> tuple[Path, Path]:
    """(good, degraded) ms-cxr results files of the box oracle on the toy world."""
    good = _oracle()
    bad = DegradedOracle(good)
    paths = []
    for adapter, name in ((good, "oracle"), (bad, "oracle-degraded")):
        grids = [g for key in sorted(adapter.grids) for _, g in sorted(adapter.grids[key].items())]
        _with_checksum(adapter, grids, name)
        paths.append(_run(adapter, name, ("ms-cxr",), _workdir() / "runs" / name) / "ms-cxr.json")
    return paths[0], paths[1]


def model_card(run: Path, model: str = "testorg/random-cnn", revision: str = "v1", **changes) -> dict:
    """A valid model.json for the results in `run` (their adapter name and weights checksum)."""
    result = json.loads(next(run.glob("*.json")).read_text())
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
    """`root/<org>__<model>/<revision>/` holding model.json and copies of the results files of `run`."""
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
        ctx = EvalContext(adapter=adapter, adapter_name="toy-text", runtime=resolve_runtime("cpu"), data_root=WORLD,
                          n_bootstrap=N_BOOTSTRAP, progress=False, argv=["tests"], seeds=(0, 1),
                          nli_hyperparameters={"learning_rate": 2e-3, "max_length": 32, "max_epochs": 2})
        out = _workdir() / "runs" / "toy-text"
        write_result(TASKS["radnli"].run(ctx), out / "radnli.json")
    finally:
        torch.set_num_threads(threads)
    return out
