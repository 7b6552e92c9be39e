"""Where a run's time goes: seconds per stage (decode, resize, forward, texts, maps, metrics, ...).

The engine and the tasks wrap their stages in `stage(name)`; decode and resize happen in DataLoader
workers, which report their own seconds with each image (`add`). `PROFILE` is process-wide and cheap
(two `perf_counter` calls per stage); `reset()` starts a new account, `summary()` reads it.
Worker stages (hash, decode, resize, cache read, pixel write) are seconds spent in parallel to the
main process, not wall time; "wait" is the main process waiting for them.
"""

from __future__ import annotations

import contextlib
import time
from typing import Iterator

PROFILE: dict[str, float] = {}
COUNTS: dict[str, int] = {}
TALLIES: dict[str, int] = {}  # events: cache hits, images decoded, texts encoded
ORDER = ("hash", "decode", "resize", "cache read", "pixel write", "wait", "forward", "embedding write", "texts", "maps",
         "metrics")


def add(name: str, seconds: float, count: int = 1) -> None:
    PROFILE[name] = PROFILE.get(name, 0.0) + seconds
    COUNTS[name] = COUNTS.get(name, 0) + count


@contextlib.contextmanager
def stage(name: str) -> Iterator[None]:
    t0 = time.perf_counter()
    try:
        yield
    finally:
        add(name, time.perf_counter() - t0)


def tally(name: str, n: int = 1) -> None:
    TALLIES[name] = TALLIES.get(name, 0) + n


def reset() -> None:
    PROFILE.clear()
    COUNTS.clear()
    TALLIES.clear()


def summary() -> dict[str, float]:
    """Seconds per stage, in pipeline order (stages never entered are left out)."""
    names = [n for n in ORDER if n in PROFILE] + sorted(set(PROFILE) - set(ORDER))
    return {n: PROFILE[n] for n in names}


WORKER_STAGES = ("hash", "decode", "resize", "cache read", "pixel write")


def format_summary(total: float | None = None, num_workers: int = 0) -> str:
    """One line: wall time; seconds per main-process stage (these add up to at most the wall time); with
    DataLoader workers, the seconds they spent in parallel (summed over workers, not wall time); the tallies."""
    stages = summary()
    main = [f"{n} {s:.2f}s" for n, s in stages.items() if not (num_workers and n in WORKER_STAGES)]
    parallel = [f"{n} {s:.2f}s" for n, s in stages.items() if num_workers and n in WORKER_STAGES]
    head = f"time {total:.2f}s wall" if total is not None else "time"
    line = f"{head}: " + (", ".join(main) or "nothing timed")
    if parallel:
        line += f"; in {num_workers} decode worker(s), in parallel with the above: " + ", ".join(parallel)
    if TALLIES:
        line += "; " + ", ".join(f"{n} {c}" for n, c in sorted(TALLIES.items()))
    return line
