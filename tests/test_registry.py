"""Adapters are found by name: built-ins, and third-party packages through the entry-point group."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from msxr_bench.adapters import registry
from msxr_bench.adapters.base import EncoderAdapter

PLUGIN_MODULE = textwrap.dedent(
    '''
    import torch
    from msxr_bench.adapters.base import AdapterMeta, EncoderAdapter, ImageEmbeddings
    from msxr_bench.geometry.types import Geometry

    class ConstantAdapter(EncoderAdapter):
        def __init__(self, dim="4"):
            super().__init__()
            self.dim = int(dim)
            self.meta = AdapterMeta(name="dummy-constant", version="0.1", description="test plugin",
                                    weights_source="none", embedding_dim=self.dim)
            self.geometry = Geometry("resize_crop", resize=32, crop=32, grid=(2, 2))

        def encode_images(self, images):
            g = torch.nn.functional.normalize(torch.ones(images.shape[0], self.dim), dim=-1)
            return ImageEmbeddings(global_=g, patches=g[:, None, None, :].expand(-1, 2, 2, -1))

        def encode_texts(self, texts, normalize=True):
            return torch.nn.functional.normalize(torch.ones(len(texts), self.dim), dim=-1)

    def build(**options):
        return ConstantAdapter(**options)
    '''
)


def _install_plugin(site: Path, dist: str, module: str, entry_points: dict[str, str], source: str) -> None:
    """Write a package exactly as pip installs it: the module plus a .dist-info with entry_points.txt."""
    (site / module).mkdir(parents=True)
    (site / module / "__init__.py").write_text(source)
    info = site / f"{dist}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    lines = "\n".join(f"{name} = {target}" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[{registry.ENTRY_POINT_GROUP}]\n{lines}\n")
    (info / "RECORD").write_text("")


@pytest.fixture
def plugin_site(tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    _install_plugin(site, "dummy_msxr_plugin", "dummy_msxr_plugin", {"dummy-constant": "dummy_msxr_plugin:build"},
                    PLUGIN_MODULE)
    _install_plugin(site, "broken_msxr_plugin", "broken_msxr_plugin", {"broken": "broken_msxr_plugin:build"},
                    "raise ImportError('this plugin needs a library that is not installed')\n")
    monkeypatch.syspath_prepend(str(site))
    yield site
    for mod in ("dummy_msxr_plugin", "broken_msxr_plugin"):
        sys.modules.pop(mod, None)


def test_plugin_is_listed_without_being_imported(plugin_site):
    names = {info.name: info for info in registry.available_adapters()}
    assert {"biovil", "biovil-t", "gloria", "convirt"} <= set(names)
    assert names["dummy-constant"].origin == "plugin dummy_msxr_plugin"
    assert "dummy_msxr_plugin" not in sys.modules  # listing does not import plugins


def test_plugin_is_built_with_model_args(plugin_site):
    adapter = registry.build_adapter("dummy-constant", **registry.parse_model_args(["dim=6"]))
    assert isinstance(adapter, EncoderAdapter)
    assert adapter.encode_texts(["a", "b"]).shape == (2, 6)


def test_broken_plugin_is_reported_and_others_still_work(plugin_site):
    with pytest.raises(registry.AdapterLoadError, match="broken.*failed to import.*not installed"):
        registry.resolve_factory("broken")
    assert registry.build_adapter("dummy-constant").meta.name == "dummy-constant"


def test_unknown_name_suggests_close_matches(plugin_site):
    with pytest.raises(registry.UnknownAdapterError) as err:
        registry.resolve_factory("biovl")
    message = str(err.value)
    assert "Did you mean: biovil" in message
    assert "dummy-constant" in message  # lists what exists, plugins included


def test_model_arg_without_equals_is_a_clear_error():
    with pytest.raises(ValueError, match="key=value"):
        registry.parse_model_args(["image_weights"])


def test_cli_lists_plugins_from_an_installed_package(plugin_site):
    env_path = f"{plugin_site}"
    out = subprocess.run(
        [sys.executable, "-m", "msxr_bench", "list"],
        capture_output=True, text=True, env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"}, check=True,
    ).stdout
    assert "dummy-constant" in out and "plugin dummy_msxr_plugin" in out
    assert "broken" in out  # listed; it only fails when asked for
