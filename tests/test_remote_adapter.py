"""RemoteAdapter: the harness's float input goes back to its uint8 crops exactly; meta, identity, capabilities
and geometry come from the handshake; a model evaluated through a worker gives the same per-sample rows as the
same model in process (`msxr-bench evaluate`, ms-cxr and rsna-cls on the toy world); options and spec files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from msxr_bench.adapters.base import GLOBAL, PATCHES, TEXT, AdapterMeta, EncoderAdapter, ImageEmbeddings, check_adapter
from msxr_bench.adapters.catalog import AdapterEntry
from msxr_bench.adapters.options import AdapterOptionError
from msxr_bench.cli import main
from msxr_bench.geometry.types import Geometry
from msxr_bench.remote.adapter import RemoteAdapter, build_remote, to_uint8_crops
from msxr_bench.remote.protocol import RemoteItemError
from msxr_bench.remote.spec import worker_spec
from remote_fake_entry import _l2, describe_dict, patch_features, text_vector

HERE = Path(__file__).resolve().parent
ENTRY = f"{HERE / 'remote_fake_entry.py'}:make"


class FakeInProcess(EncoderAdapter):
    """The fake entry's model as an ordinary in-process adapter, on the harness's float input."""

    capabilities = frozenset({GLOBAL, PATCHES, TEXT})

    def __init__(self) -> None:
        super().__init__()
        d = describe_dict()
        self.meta = AdapterMeta.model_validate(d["meta"])
        g = d["geometry"]
        self.geometry = Geometry(g["kind"], g["resize"], g["crop"], tuple(g["grid"]), g["smoothing_sigma"])
        self.max_text_tokens, self.map_placement = d["max_text_tokens"], d["map_placement"]

    def encode_images(self, images: torch.Tensor) -> ImageEmbeddings:
        p = patch_features(images[:, 0].numpy())
        return ImageEmbeddings(torch.from_numpy(_l2(p.mean(axis=(1, 2)))), torch.from_numpy(_l2(p)))

    def encode_texts(self, texts: list[str], normalize: bool = True) -> torch.Tensor:
        raw = np.stack([text_vector(t) for t in texts])
        return torch.from_numpy(_l2(raw) if normalize else raw)

    def count_text_tokens(self, texts: list[str]) -> list[int]:
        return [len(t.split()) + 2 for t in texts]


def build_fake_inprocess() -> FakeInProcess:
    return FakeInProcess()


@pytest.fixture(scope="module")
def remote() -> RemoteAdapter:
    adapter = build_remote(entry=ENTRY)
    yield adapter
    adapter.close()


def test_float_input_goes_back_to_its_uint8_crops_exactly() -> None:
    crops = torch.arange(256, dtype=torch.uint8).reshape(1, 16, 16).repeat(2, 1, 1)
    x = crops.float().div(255).unsqueeze(1).expand(-1, 3, -1, -1)
    assert np.array_equal(to_uint8_crops(x), crops.numpy())
    with pytest.raises(ValueError, match="not"):
        to_uint8_crops(x + 1e-4)  # not uint8 / 255
    rgb = x.clone()
    rgb[:, 1] = rgb[:, 1].flip(-1)
    with pytest.raises(ValueError, match="grey replicated"):
        to_uint8_crops(rgb)


def test_the_handshake_makes_the_adapter(remote: RemoteAdapter) -> None:
    assert check_adapter(remote, "remote") is remote
    assert remote.capabilities == {"global", "patches", "text", "remote"}
    assert remote.meta.name == "fake-remote" and remote.identity() == "fake-remote-identity"
    assert remote.geometry == FakeInProcess().geometry and remote.max_text_tokens == 16
    assert remote.map_placement == "exact" and (remote.remote_device, remote.remote_precision) == ("cpu", "fp32")
    assert remote.eval().to("cpu") is remote  # what the harness does to any adapter


def test_remote_outputs_equal_the_in_process_model(remote: RemoteAdapter) -> None:
    crops = np.random.default_rng(1).integers(0, 256, (5, 64, 64), dtype=np.uint8)
    x = torch.from_numpy(crops).float().div(255).unsqueeze(1).expand(-1, 3, -1, -1)
    local, far = FakeInProcess().encode_images(x), remote.encode_images(x)
    assert far.global_.dtype == torch.float32 and torch.equal(far.global_, local.global_)
    assert torch.equal(far.patches, local.patches)
    texts = ["left effusion", "cardiomegaly", "é ünïcode"]
    for normalize in (True, False):
        assert torch.equal(remote.encode_texts(texts, normalize), FakeInProcess().encode_texts(texts, normalize))
    assert torch.allclose(remote.embed_prompt_list(texts), FakeInProcess().embed_prompt_list(texts), atol=0)
    assert remote.count_text_tokens(["a b c", "a"]) == [5, 3]


def test_boxes_and_a_global_only_model() -> None:
    adapter = build_remote(entry=ENTRY, **{"arg.describe": json.dumps({"capabilities": ["global", "text", "boxes"]})})
    try:
        crops = np.zeros((3, 64, 64), np.uint8)
        crops[0, 16:32, 32:48], crops[1, 48:, :16] = 200, 100  # brightest block: (x 32, y 16); (x 0, y 48)
        x = torch.from_numpy(crops).float().div(255).unsqueeze(1).expand(-1, 3, -1, -1)
        assert adapter.capabilities == {"global", "text", "boxes", "remote"}
        assert adapter.encode_images(x).patches is None  # declared global only: patches are not used
        boxes = adapter.predict_boxes(x[:2], ["left effusion", "a"])  # 2 words -> 2 boxes, 1 word -> 1 box
        assert [(b.x, b.y, b.w, b.h) for b in boxes[0]] == [(32, 16, 16, 16), (0, 0, 16, 16)]
        assert boxes[0][0].score == pytest.approx(200 / 255) and len(boxes[1]) == 1
        assert (boxes[1][0].x, boxes[1][0].y) == (0, 48)
        assert adapter.predict_boxes(x[:1], ["no groundable finding"]) == [[]]  # 3 words -> 0 boxes
        with pytest.raises(RemoteItemError) as info:
            adapter.predict_boxes(x, ["a b", "negative", "c"])
        assert info.value.failures == {1: "a box has a negative width or height"} and len(info.value.partial) == 2
    finally:
        adapter.close()


def test_evaluate_through_a_worker_gives_the_in_process_rows(toyworld_root: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from msxr_bench.adapters import registry

    entry = AdapterEntry("test-fake-inprocess", "test_remote_adapter:build_fake_inprocess", "fake (tests)",
                         ("global", "patches", "text"), None)
    monkeypatch.setattr(registry, "BUILTIN_ADAPTERS", {**registry.BUILTIN_ADAPTERS, entry.name: entry})
    common = ["--task", "ms-cxr", "--task", "rsna-cls", "--data-root", str(toyworld_root), "--output",
              str(tmp_path), "--bootstrap", "20", "--num-workers", "2", "--batch-size", "3"]
    for model in (["--model", "remote", "--model-arg", f"entry={ENTRY}"], ["--model", "test-fake-inprocess"]):
        result = CliRunner().invoke(main, ["evaluate", *model, *common])
        assert result.exit_code == 0, result.output
    for task in ("ms-cxr", "rsna-cls"):
        far = json.loads((tmp_path / "remote" / f"{task}.json").read_text())
        local = json.loads((tmp_path / "test-fake-inprocess" / f"{task}.json").read_text())
        assert far["adapter"]["identity"] == "fake-remote-identity" and far["adapter"]["meta"]["name"] == "fake-remote"
        rows = {r["sample_id"]: r for r in local["samples"]}
        assert len(far["samples"]) == len(rows) > 3
        for row in far["samples"]:
            assert row == rows[row["sample_id"]]  # every number identical
        assert far["metrics"] == local["metrics"]


def test_options_spec_file_config_and_passthrough(tmp_path: Path) -> None:
    config = tmp_path / "entry.json"
    config.write_text(json.dumps({"weights": "from-config", "seed": 3}))
    spec_file = tmp_path / "remote.json"
    spec_file.write_text(json.dumps({"python": "/venv/bin/python", "entry": "pkg.mod:make", "timeout": 12,
                                     "args": {"weights": "from-spec", "mode": "a"}, "config": str(config),
                                     "env": {"OMP_NUM_THREADS": "4"}}))
    spec = worker_spec({"spec": str(spec_file), "arg.weights": "from-cli", "timeout": "7"})
    assert spec.python == "/venv/bin/python" and spec.entry == "pkg.mod:make" and spec.timeout == 7.0
    assert spec.args == {"weights": "from-cli", "mode": "a", "seed": 3}  # cli > config file > spec's args
    assert spec.child_env()["OMP_NUM_THREADS"] == "4" and spec.startup_timeout == 600.0
    assert worker_spec({"entry": "a:b", "command": "conda run -n x python"}).argv("S", 1)[:5] == \
        ["conda", "run", "-n", "x", "python"]
    shipped = worker_spec({"entry": "msxr_bench.remote.workers.himl_biovil:make_adapter"}).shipped_entry()
    assert shipped.endswith("msxr_bench/remote/workers/himl_biovil.py:make_adapter")
    for bad, match in [({"entry": "a:b", "python": "p", "command": "c"}, "not both"), ({}, "entry= is required"),
                       ({"entry": "nocolon"}, "module:callable"), ({"entry": "a:b", "timout": "1"}, "did you mean"),
                       ({"entry": "a:b", "timeout": "0"}, "positive")]:
        with pytest.raises(AdapterOptionError, match=match):
            worker_spec(bad)
    spec_file.write_text(json.dumps({"entry": "a:b", "pyhton": "x"}))
    with pytest.raises(AdapterOptionError, match="unknown keys \\['pyhton'\\]"):
        worker_spec({"spec": str(spec_file)})


def test_preflight_checks_the_handshake_and_gates_tasks_on_it(toyworld_root: Path) -> None:
    """The worker starts in preflight (before any compute): a bad entry is a preflight error, and the tasks a
    global-only worker cannot do are planned as skipped from its handshake; the run reuses that worker."""
    from msxr_bench.preflight import PreflightError, preflight

    with pytest.raises(PreflightError, match="remote model:"):
        preflight("remote", ["radnli-zs"], toyworld_root, model_args={"entry": "no_such_module:make"})
    describe = json.dumps({"capabilities": ["global", "text"]})
    plan = preflight("remote", ["ms-cxr", "rsna-cls"], toyworld_root,
                     model_args={"entry": ENTRY, "arg.describe": describe})
    try:
        assert plan.session is not None and plan.session.alive
        assert plan.skipped == {"ms-cxr": "the model lacks patches"}
    finally:
        plan.session.close()
