"""Find and build adapters by name: built-ins first (`catalog`), then plugins of the entry-point group
`msxr_bench.adapters` (loaded lazily, only the one asked for; a broken plugin is reported, not fatal).

Torch-free at import: listing adapters and parsing their options builds nothing.
"""

from __future__ import annotations

import difflib
import importlib
import logging
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any, Callable

from msxr_bench.adapters.catalog import BUILTIN, AdapterEntry
from msxr_bench.adapters.options import AdapterOptionError, OptionSchema

if TYPE_CHECKING:
    from msxr_bench.adapters.base import EncoderAdapter

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "msxr_bench.adapters"
BUILTIN_ADAPTERS: dict[str, AdapterEntry] = dict(BUILTIN)  # tests register their own adapters here


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
    options: OptionSchema | None = None  # known without importing: built-ins only
    capabilities: tuple[str, ...] = ()


def _plugin_entry_points() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def available_adapters() -> list[AdapterInfo]:
    """Every adapter name, built-in and plugin, without importing any plugin."""
    infos = [AdapterInfo(e.name, e.description, "built-in", e.options, e.capabilities)
             for e in BUILTIN_ADAPTERS.values()]
    for name, ep in sorted(_plugin_entry_points().items()):
        if name in BUILTIN_ADAPTERS:
            log.warning("plugin adapter %r shadows a built-in and is ignored", name)
            continue
        dist = getattr(ep, "dist", None)
        infos.append(AdapterInfo(name, f"{ep.value}", f"plugin {dist.name if dist else '?'}"))
    return infos


def _load_target(ref: str) -> Callable[..., Any]:
    module_name, _, attr = ref.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attr) if attr else module


def _unknown(name: str, plugins: dict[str, EntryPoint]) -> UnknownAdapterError:
    known = sorted(set(BUILTIN_ADAPTERS) | set(plugins))
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    return UnknownAdapterError(f"unknown model {name!r}.{hint} Available: {', '.join(known)}")


def resolve_factory(name: str) -> Callable[..., "EncoderAdapter"]:
    """The factory of adapter `name`; a did-you-mean error when there is none."""
    if name in BUILTIN_ADAPTERS:
        return _load_target(BUILTIN_ADAPTERS[name].factory)
    plugins = _plugin_entry_points()
    if name in plugins:
        ep = plugins[name]
        try:
            return ep.load()
        except Exception as exc:  # a broken plugin must not take the others down
            raise AdapterLoadError(
                f"adapter plugin {name!r} ({ep.value}) failed to import: {type(exc).__name__}: {exc}"
            ) from exc
    raise _unknown(name, plugins)


def option_schema(name: str) -> OptionSchema | None:
    """The declared options of adapter `name`: a built-in's from the catalogue (no import), a plugin's from its
    factory's `options_schema` attribute (imports the plugin), None when it declares none."""
    if name in BUILTIN_ADAPTERS:
        return BUILTIN_ADAPTERS[name].options
    schema = getattr(resolve_factory(name), "options_schema", None)
    return schema if isinstance(schema, OptionSchema) else None


def check_model_options(name: str, options: dict[str, str]) -> dict[str, Any]:
    """Parse `options` against adapter `name`'s schema (UnknownAdapterError / AdapterOptionError), without
    building the model; an adapter without a schema gets its options as given."""
    if name not in BUILTIN_ADAPTERS and name not in _plugin_entry_points():
        raise _unknown(name, _plugin_entry_points())
    schema = option_schema(name)
    return schema.parse(options, name) if schema is not None else dict(options)


def parse_model_args(pairs: tuple[str, ...] | list[str]) -> dict[str, str]:
    """`("k=v", ...)` -> dict; a pair without '=' is a clear error."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise AdapterOptionError(f"--model-arg expects key=value, got {pair!r}")
        out[key.strip()] = value
    return out


def build_adapter(name: str, **options: Any) -> "EncoderAdapter":
    """Build adapter `name` with keyword options; the result is checked against the contract it declares."""
    from msxr_bench.adapters.base import check_adapter

    adapter = resolve_factory(name)(**options)
    return check_adapter(adapter, name)
