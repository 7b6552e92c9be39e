"""Rows keyed by (sample_id, fraction, seed) -> per-fraction columns [images, seeds], and statistics over seeds
whose bootstrap resamples test images (every seed's values of an image move together). Shared by both probes."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch

from msxr_bench.tasks.base import RowError


def fractions_of(rows: Sequence[Mapping[str, Any]]) -> list[float]:
    out = set()
    for i, row in enumerate(rows):
        f = row.get("fraction")
        if not isinstance(f, (int, float)) or isinstance(f, bool) or not 0 < f <= 1:
            raise RowError(f"samples[{i}] ({row.get('sample_id')!r}).fraction: expected a number in (0, 1], got {f!r}")
        out.add(float(f))
    return sorted(out)


def pivot(rows: Sequence[Mapping[str, Any]], fraction: float, fields: Sequence[str],
          shared: Sequence[str] = ()) -> tuple[list[str], list[int], dict[str, torch.Tensor]]:
    """(sample ids sorted, seeds sorted, {field: [N images, S seeds] float64}) of the rows of `fraction`;
    `shared` fields must be equal over a fraction's seeds ([N] each). Every (image, seed) must have one row."""
    picked = [r for r in rows if float(r["fraction"]) == fraction]
    seeds = sorted({r.get("seed") for r in picked}, key=lambda s: (not isinstance(s, int), s))
    if any(not isinstance(s, int) or isinstance(s, bool) for s in seeds):
        raise RowError(f"samples (fraction {fraction}): seed must be an integer, got {seeds}")
    ids = sorted({str(r["sample_id"]) for r in picked})
    where = {sid: i for i, sid in enumerate(ids)}
    col = {s: j for j, s in enumerate(seeds)}
    out = {f: torch.full((len(ids), len(seeds)), torch.nan, dtype=torch.float64) for f in fields}
    seen = torch.zeros(len(ids), len(seeds), dtype=torch.bool)
    for row in picked:
        i, j = where[str(row["sample_id"])], col[row["seed"]]
        seen[i, j] = True
        for f in fields:
            v = row.get(f)
            if v is not None and (not isinstance(v, (int, float)) or isinstance(v, bool)):
                raise RowError(f"sample {row['sample_id']!r} (fraction {fraction}, seed {row['seed']}).{f}: "
                               f"expected a number, got {v!r}")
            out[f][i, j] = float("nan") if v is None else float(v)
    if not bool(seen.all()):
        raise RowError(f"samples (fraction {fraction}): every image needs a row for every seed {seeds}")
    for f in shared:
        if not bool(((out[f] == out[f][:, :1]) | out[f].isnan()).all()):
            raise RowError(f"samples (fraction {fraction}): {f} differs between the seeds of an image")
    return ids, seeds, out


def seed_columns(x: torch.Tensor, idx: torch.Tensor, start: int, n_seeds: int) -> torch.Tensor:
    """[S, B, N] of the resampled rows of columns start .. start + S - 1 of data x [N, k]."""
    return x[:, start:start + n_seeds][idx].permute(2, 0, 1)


def sample_sd(values: torch.Tensor) -> torch.Tensor:
    """Sample sd over the first dim (NaN with one seed)."""
    if values.shape[0] < 2:
        return torch.full(values.shape[1:], torch.nan, dtype=torch.float64)
    return values.std(dim=0, unbiased=True)
