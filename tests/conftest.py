"""Shared fixtures: the toy world data root and the test adapters registered under names for the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from msxr_bench.adapters.catalog import AdapterEntry

FIXTURE_WORLD = Path(__file__).resolve().parents[1] / "fixtures" / "toyworld"
TEST_ADAPTERS = {
    e.name: e for e in (
        AdapterEntry("test-random-cnn", "adapters_for_tests:build_random_cnn", "random small CNN (tests)",
                     ("global", "patches", "text"), None),
        AdapterEntry("test-global-only", "adapters_for_tests:build_global_only",
                     "random CNN without patch embeddings (tests)", ("global", "text"), None),
    )
}


@pytest.fixture(scope="session")
def toyworld_root() -> Path:
    """The committed toy world (fixtures/toyworld/); generated (tiny, seed 0) when the checkout lacks it or it
    predates a dataset the tasks read (tests/toy_world.py)."""
    from toy_world import toy_world

    return toy_world()


@pytest.fixture
def test_adapters(monkeypatch: pytest.MonkeyPatch) -> dict[str, tuple[str, str]]:
    """Registers the test adapters as built-ins for the duration of one test."""
    from msxr_bench.adapters import registry

    monkeypatch.setattr(registry, "BUILTIN_ADAPTERS", {**registry.BUILTIN_ADAPTERS, **TEST_ADAPTERS})
    return TEST_ADAPTERS


@pytest.fixture
def one_torch_thread():
    """Tiny BERTs run fastest on one thread (and do not fight other test processes for cores)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def probe_world_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The toy world at the `probe` scale (seed 0): the tiny world plus 1,000 RSNA images (generated once)."""
    from msxr_bench.toyworld import generate

    out = tmp_path_factory.mktemp("probe-world")
    generate(out, seed=0, scale="probe", workers=2)
    return out
