"""Reading the released GLoRIA `.ckpt` (a PyTorch-Lightning 1.1 checkpoint) without PyTorch Lightning,
OmegaConf or arbitrary code: a restricted unpickler for `torch.load`.

Allowed: torch's tensor/storage rebuild functions, OrderedDict, plain builtin containers and scalars, numpy
scalars/arrays, latin-1 `_codecs.encode` (how protocol 2 stores bytes). Classes of `omegaconf`,
`pytorch_lightning` and `typing` become inert stand-ins that only record what the pickle gives them
(constructor args, state, items); nothing of those packages is imported. Any other global (os.system,
builtins.eval, subprocess.Popen, ...) is refused before it is called.
"""

from __future__ import annotations

import collections
import pickle
import types
from pathlib import Path
from typing import Any

import torch

STAND_IN_PACKAGES = ("omegaconf", "pytorch_lightning", "typing")
_SAFE_BUILTINS = {"dict", "list", "tuple", "set", "frozenset", "str", "bytes", "bytearray", "int", "float",
                  "bool", "complex", "slice", "range", "object"}
_TORCH_REBUILDERS = {
    ("torch._utils", "_rebuild_tensor"), ("torch._utils", "_rebuild_tensor_v2"),
    ("torch._utils", "_rebuild_parameter"), ("torch._utils", "_rebuild_parameter_with_state"),
    ("torch._utils", "_rebuild_qtensor"), ("torch", "Size"), ("torch", "device"),
}
_NUMPY = {("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
          ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
          ("numpy", "dtype"), ("numpy", "ndarray")}


class UnsafeCheckpointError(pickle.UnpicklingError):
    """The checkpoint references a global that this reader will not load (possible code execution)."""


class StandIn(dict):
    """An inert object standing for an instance of an unimportable class: records args, state and items."""

    qualname = "?"

    def __new__(cls, *args: Any, **kwargs: Any) -> StandIn:
        obj = super().__new__(cls)
        obj.args, obj.kwargs, obj.state, obj.list_items = args, kwargs, None, []
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # never dict's init: items arrive via SETITEMS
        self.args, self.kwargs = args or self.args, kwargs or self.kwargs

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def append(self, item: Any) -> None:
        self.list_items.append(item)

    def extend(self, items: Any) -> None:
        self.list_items.extend(items)

    def __repr__(self) -> str:
        return f"<stand-in {self.qualname}>"

    __hash__ = object.__hash__  # usable as a dict key, as the classes they replace are
    __eq__ = object.__eq__


_STAND_INS: dict[str, type[StandIn]] = {}


def stand_in_class(module: str, name: str) -> type[StandIn]:
    """The (cached) stand-in class for `module.name`."""
    qualname = f"{module}.{name}"
    if qualname not in _STAND_INS:
        _STAND_INS[qualname] = type(name, (StandIn,), {"qualname": qualname, "__module__": "msxr_bench.stand_in"})
    return _STAND_INS[qualname]


def _safe_reconstructor(cls: Any, base: Any, state: Any) -> Any:
    """copyreg._reconstructor restricted to stand-ins and plain builtins."""
    if not (isinstance(cls, type) and (issubclass(cls, StandIn) or cls.__name__ in _SAFE_BUILTINS)):
        raise UnsafeCheckpointError(f"copyreg._reconstructor of {cls!r} refused")
    return cls.__new__(cls) if state is None else cls(state)


def _latin1_bytes(text: str, encoding: str = "latin1") -> bytes:
    """`_codecs.encode` as protocol-2 pickles use it for bytes (e.g. numpy scalars): latin-1 only."""
    if not isinstance(text, str) or encoding.replace("-", "").lower() != "latin1":
        raise UnsafeCheckpointError(f"_codecs.encode with {type(text).__name__} / {encoding!r} refused")
    return text.encode("latin1")


class RestrictedUnpickler(pickle.Unpickler):
    """`pickle.Unpickler` whose `find_class` resolves only the allow-list above."""

    def find_class(self, module: str, name: str) -> Any:
        if module.split(".")[0] in STAND_IN_PACKAGES:
            return stand_in_class(module, name)
        if module in ("builtins", "__builtin__") and name in _SAFE_BUILTINS:
            return getattr(__import__("builtins"), name)
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("copyreg", "_reconstructor"):
            return _safe_reconstructor
        if (module, name) == ("_codecs", "encode"):
            return _latin1_bytes
        if (module, name) in _TORCH_REBUILDERS:
            return super().find_class(module, name)
        if (module, name) in _NUMPY:
            return super().find_class(module, name)
        raise UnsafeCheckpointError(
            f"refusing to load the global {module}.{name} from this checkpoint: it is not a tensor, a plain "
            "container or an OmegaConf/Lightning record, and loading it could run arbitrary code"
        )


def restricted_pickle_module() -> types.ModuleType:
    """A `pickle_module` for `torch.load` that unpickles with `RestrictedUnpickler`."""
    module = types.ModuleType("msxr_bench_restricted_pickle")
    module.Unpickler = RestrictedUnpickler  # type: ignore[attr-defined]
    module.load = lambda file, **kw: RestrictedUnpickler(file, **kw).load()  # type: ignore[attr-defined]
    module.__name__ = "msxr_bench_restricted_pickle"
    return module


def load_restricted(path: str | Path) -> Any:
    """Any `torch.save` file read with the restricted unpickler (tensors on CPU, unknown classes as stand-ins);
    refuses unsafe globals. Also reads other projects' pickled `.pth` data (e.g. MedRPG's split lists)."""
    path = Path(path)
    try:
        return torch.load(path, map_location="cpu", pickle_module=restricted_pickle_module(), weights_only=False)
    except UnsafeCheckpointError as exc:
        raise UnsafeCheckpointError(f"{path}: {exc}") from None
    except (pickle.UnpicklingError, EOFError, RuntimeError, ValueError) as exc:
        raise ValueError(f"{path}: not a readable PyTorch checkpoint ({type(exc).__name__}: {exc})") from exc


def load_lightning_checkpoint(path: str | Path) -> dict:
    """The checkpoint's top-level dict, tensors on CPU, unknown classes as stand-ins; refuses unsafe globals."""
    path = Path(path)
    obj = load_restricted(path)
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a Lightning checkpoint (a dict), got {type(obj).__name__}")
    return obj


def to_plain(obj: Any, _seen: frozenset = frozenset()) -> Any:
    """Stand-ins of OmegaConf containers/nodes and dict-like records -> plain dicts, lists and scalars.

    DictConfig/ListConfig keep their values in `_content` (value nodes in `_val`); Lightning's
    AttributeDict is a dict. Tensors become lists; other stand-ins {"__class__": name, ...}; cycles
    (a node's `_parent`) are never followed.
    """
    if id(obj) in _seen:
        return None
    seen = _seen | {id(obj)}
    if isinstance(obj, StandIn):
        state = obj.state if isinstance(obj.state, dict) else {}
        if "_content" in state:
            return to_plain(state["_content"], seen)
        if "_val" in state:
            return to_plain(state["_val"], seen)
        if len(obj) or (obj.state is None and not obj.list_items and not obj.args):
            return {str(to_plain(k, seen)): to_plain(v, seen) for k, v in obj.items()}
        out: dict[str, Any] = {"__class__": obj.qualname}
        for label, value in (("args", obj.args), ("state", obj.state), ("items", obj.list_items)):
            if value:
                out[label] = to_plain(value, seen)
        return out
    if isinstance(obj, type) and issubclass(obj, StandIn):
        return obj.qualname
    if isinstance(obj, dict):
        return {str(to_plain(k, seen)) if not isinstance(k, (str, int, float, bool)) else k: to_plain(v, seen)
                for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v, seen) for v in obj]
    if isinstance(obj, torch.Tensor):
        return obj.tolist()
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    return repr(obj)
