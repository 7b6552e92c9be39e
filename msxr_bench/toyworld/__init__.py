"""The toy CXR world: a seeded synthetic generator of chest X-ray-like images with findings of the
eight MS-CXR categories, their boxes and reports, written in the real datasets' on-disk formats."""

from msxr_bench.toyworld.world import generate

__all__ = ["generate"]
