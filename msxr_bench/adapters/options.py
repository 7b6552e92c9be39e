"""Declarative adapter options (`--model-arg key=value`): name, type, default, help, allowed values.

Torch-free, so that `preflight`, `--help` and `msxr-bench list` read an adapter's options without building it;
the adapter's factory parses with the same schema, so that there is one definition of what each option means.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Mapping

OptionType = Literal["str", "int", "float", "bool", "path", "choice"]
TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


class AdapterOptionError(ValueError):
    """An unknown adapter option, or a value of the wrong type."""


@dataclass(frozen=True)
class AdapterOption:
    name: str
    help: str
    type: OptionType = "str"
    default: Any = None
    choices: tuple[str, ...] = ()

    def parse(self, raw: Any) -> Any:
        """The typed value of `raw` (a command-line string, or an already typed value)."""
        where = f"--model-arg {self.name}={raw}"
        if self.type == "bool":
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in TRUE or text in FALSE:
                return text in TRUE
            raise AdapterOptionError(f"{where}: expected true or false")
        if self.type in ("int", "float"):
            try:
                value = int(raw) if self.type == "int" else float(raw)
            except (TypeError, ValueError):
                raise AdapterOptionError(f"{where}: expected {'an integer' if self.type == 'int' else 'a number'}") \
                    from None
            if self.type == "int" and isinstance(raw, float) and value != raw:
                raise AdapterOptionError(f"{where}: expected an integer")
            return value
        value = str(raw)
        if self.type == "choice" and value not in self.choices:
            raise AdapterOptionError(f"{where}: expected one of {', '.join(self.choices)}")
        if self.type == "path":
            return str(Path(value).expanduser())
        return value

    def describe(self) -> str:
        kind = "|".join(self.choices) if self.type == "choice" else self.type
        default = "" if self.default is None else f" (default {self.default})"
        return f"{self.name}={kind}{default}: {self.help}"


@dataclass(frozen=True)
class OptionSchema:
    options: tuple[AdapterOption, ...]
    # names starting with this prefix (e.g. "arg.") pass through as given: options of something the adapter
    # forwards without knowing them (the entry of a remote adapter)
    passthrough: str | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(o.name for o in self.options)

    def parse(self, raw: Mapping[str, Any], adapter: str = "this model") -> dict[str, Any]:
        """Every option of the schema, typed: the given ones parsed, the others at their defaults. An unknown
        name is an error with a did-you-mean hint."""
        by_name = {o.name: o for o in self.options}
        passed = {k: v for k, v in raw.items() if self.passthrough and k.startswith(self.passthrough) and
                  len(k) > len(self.passthrough)}
        unknown = sorted(set(raw) - set(by_name) - set(passed))
        if unknown:
            hints = [f"{u} (did you mean {close[0]}?)" if (close := difflib.get_close_matches(u, by_name, 1)) else u
                     for u in unknown]
            also = f", or {self.passthrough}NAME=VALUE" if self.passthrough else ""
            raise AdapterOptionError(f"unknown --model-arg for {adapter}: {', '.join(hints)} "
                                     f"(known: {', '.join(by_name) or 'none'}{also})")
        return {**{name: (o.parse(raw[name]) if name in raw and raw[name] is not None else o.default)
                   for name, o in by_name.items()}, **passed}

    def describe(self) -> list[str]:
        extra = [f"{self.passthrough}NAME=VALUE: passed on as given"] if self.passthrough else []
        return [o.describe() for o in self.options] + extra
