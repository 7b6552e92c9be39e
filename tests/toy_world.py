"""The toy world the tests read: the committed fixture (fixtures/toyworld/) when it holds every dataset the tasks
read, else the same world generated (tiny, seed 0) once per test process.

A checkout whose fixture predates a dataset (the MS-CXR-T files, `ms-cxr-t/`) gets the generated world: byte for
byte the fixture for every file the fixture has, except the MIMIC tables, which gain the new studies' rows
(tests/test_toyworld_temporal.py checks this). Once the fixture is regenerated, it is used as is.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

FIXTURE_WORLD = Path(__file__).resolve().parents[1] / "fixtures" / "toyworld"
NEWEST_PART = "ms-cxr-t"  # a folder only worlds generated with every part have


def fixture_is_complete() -> bool:
    return (FIXTURE_WORLD / "toyworld.json").is_file() and (FIXTURE_WORLD / NEWEST_PART).is_dir()


@functools.cache
def generated_world() -> Path:
    """The tiny seed-0 world, generated now into a temporary folder (removed at exit)."""
    from msxr_bench.toyworld import generate

    out = Path(tempfile.mkdtemp(prefix="msxr-toyworld-"))
    atexit.register(shutil.rmtree, out, ignore_errors=True)
    generate(out, seed=0, scale="tiny")
    return out


def toy_world() -> Path:
    return FIXTURE_WORLD if fixture_is_complete() else generated_world()
