"""Find and build adapters by name: built-ins first, then plugins of the entry-point group
`msxr_bench.adapters` (loaded lazily, only the one asked for; a broken plugin is reported, not fatal).
"""

from __future__ import annotations

import difflib
import importlib
import logging
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Callable

from msxr_bench.adapters.base import EncoderAdapter

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "msxr_bench.adapters"

# name -> ("module:factory", one-line description). Factories take keyword options (--model-arg).
BUILTIN_ADAPTERS: dict[str, tuple[str, str]] = {
    "biovil": ("msxr_bench.adapters.biovil:build_biovil", "BioViL (ResNet-50 + CXR-BERT), Boecking et al. ECCV 2022"),
    "biovil-t": ("msxr_bench.adapters.biovil:build_biovil_t", "BioViL-T, current-image path, Bannur et al. CVPR 2023"),
    "gloria": ("msxr_bench.adapters.gloria:build_gloria", "GLoRIA (ResNet-50 + ClinicalBERT, local+global), Huang et al. ICCV 2021"),
    "convirt": ("msxr_bench.adapters.convirt:build_convirt", "ConVIRT (ResNet-50 + ClinicalBERT, global), Zhang et al. 2020"),
}


class UnknownAdapterError(KeyError):
    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0])


class AdapterLoadError(RuntimeError):
    pass


@dataclass(frozen=True)
class AdapterInfo:
    name: str
    description: str
    origin: str  # "built-in" or "plugin <dist>"


def _plugin_entry_points() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def available_adapters() -> list[AdapterInfo]:
    """Every adapter name, built-in and plugin, without importing any plugin."""
    infos = [AdapterInfo(n, d, "built-in") for n, (_, d) in BUILTIN_ADAPTERS.items()]
    for name, ep in sorted(_plugin_entry_points().items()):
        if name in BUILTIN_ADAPTERS:
            log.warning("plugin adapter %r shadows a built-in and is ignored", name)
            continue
        dist = getattr(ep, "dist", None)
        origin = f"plugin {dist.name if dist else '?'}"
        infos.append(AdapterInfo(name, f"{ep.value}", origin))
    return infos


def _load_target(ref: str) -> Callable[..., Any]:
    module_name, _, attr = ref.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attr) if attr else module


def resolve_factory(name: str) -> Callable[..., EncoderAdapter]:
    """The factory of adapter `name`; a did-you-mean error when there is none."""
    if name in BUILTIN_ADAPTERS:
        return _load_target(BUILTIN_ADAPTERS[name][0])
    plugins = _plugin_entry_points()
    if name in plugins:
        ep = plugins[name]
        try:
            return ep.load()
        except Exception as exc:  # a broken plugin must not take the others down
            raise AdapterLoadError(
                f"adapter plugin {name!r} ({ep.value}) failed to import: {type(exc).__name__}: {exc}"
            ) from exc
    known = sorted(set(BUILTIN_ADAPTERS) | set(plugins))
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise UnknownAdapterError(f"unknown model {name!r}.{hint} Available: {', '.join(known)}")


def parse_model_args(pairs: tuple[str, ...] | list[str]) -> dict[str, str]:
    """`("k=v", ...)` -> dict; a pair without '=' is a clear error."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--model-arg expects key=value, got {pair!r}")
        out[key.strip()] = value
    return out


def build_adapter(name: str, **options: Any) -> EncoderAdapter:
    """Build adapter `name` with keyword options; the result is checked against the contract."""
    factory = resolve_factory(name)
    adapter = factory(**options)
    if not isinstance(adapter, EncoderAdapter):
        raise AdapterLoadError(f"adapter {name!r} factory returned {type(adapter).__name__}, not an EncoderAdapter")
    return adapter
