"""Errors an adapter raises that the harness handles item by item (torch-free, so that out-of-process clients
can raise them too)."""

from __future__ import annotations

from typing import Any


class PartialBatchError(ValueError):
    """Some items of one call came back unusable (wrong shape or dtype, non-finite, the model's own per-item error).
    `failures` maps an item's index in the call to why; `kept` lists the usable items' indices in order and
    `partial` holds their results (the method's usual return type), or None when none is usable. The engine counts
    the failures as skipped samples and goes on with the rest."""

    def __init__(self, message: str, failures: dict[int, str], kept: list[int], partial: Any) -> None:
        super().__init__(message)
        self.failures, self.kept, self.partial = failures, kept, partial
