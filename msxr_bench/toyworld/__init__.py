"""The toy CXR world: a seeded synthetic generator of chest X-ray-like images with findings of the
eight MS-CXR categories, their boxes and reports, written in the real datasets' on-disk formats.
`generate` is imported on first use (the CLI's help reads only `scales`)."""

from __future__ import annotations

from typing import Any

__all__ = ["generate"]


def __getattr__(name: str) -> Any:
    if name == "generate":
        from msxr_bench.toyworld.world import generate

        return generate
    raise AttributeError(name)
