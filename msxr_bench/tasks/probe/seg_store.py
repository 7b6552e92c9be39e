"""Grid features of the segmentation probe's training images, streamed to a file once and read back in chunks,
so host memory stays flat in the number of images (nothing per image is kept in memory between batches).

Per image: the patch grid [h, w, D] as float16 and the cell targets [h, w] float32 = the fraction of the cell's
pixels inside the box union (the same cell weights as the metrics, `metrics.cell_weights`), -1 for cells that paint
no pixel of the original image (left out of the loss). Running sums give the per-dimension mean and sd over cells.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from msxr_bench.data.types import RsnaSample
from msxr_bench.engine import ImageItem
from msxr_bench.geometry import axis_map
from msxr_bench.metrics import cell_weights
from msxr_bench.tasks.rsna.selection import BOX_FRAME

FEATURE_DTYPE = np.float16


def boxes_in(sample: RsnaSample, size: tuple[int, int]) -> tuple:
    """The sample's boxes (1024 Kaggle frame) in pixels of the decoded image of `size` (H, W)."""
    sy, sx = size[0] / BOX_FRAME[0], size[1] / BOX_FRAME[1]
    return tuple(b.scaled(sx, sy) for b in sample.boxes)


def cell_targets(geometry, placement: str, size: tuple[int, int], boxes) -> torch.Tensor:
    """[h, w] float32: fraction of each cell's valid pixels inside the boxes; -1 where the cell paints none."""
    w_in, w_all = cell_weights([axis_map(geometry, size[0], size[1], placement)], [boxes])
    return torch.where(w_all[0] > 0, w_in[0] / w_all[0].clamp(min=1), torch.full_like(w_all[0], -1.0)).float()


@dataclass
class GridStore:
    """The training grids of one run, in a temporary folder (removed by `close`)."""

    grid: tuple[int, int] = (0, 0)
    dim: int = 0
    samples: list[RsnaSample] = field(default_factory=list)
    folder: tempfile.TemporaryDirectory | None = None
    sums: torch.Tensor | None = None  # [2, D] float64: sum and sum of squares over valid cells
    n_cells: int = 0

    @property
    def paths(self) -> tuple[Path, Path]:
        root = Path(self.folder.name)
        return root / "features.bin", root / "targets.bin"

    def append(self, patches: torch.Tensor, targets: torch.Tensor, sample: RsnaSample) -> None:
        """One image: patches [h, w, D] (any float dtype), targets [h, w]."""
        if self.folder is None:
            self.folder = tempfile.TemporaryDirectory(prefix="msxr-seg-probe-")
            self.grid, self.dim = tuple(patches.shape[:2]), int(patches.shape[2])
            self.sums = torch.zeros(2, self.dim, dtype=torch.float64)
        feats, tgt = self.paths
        with feats.open("ab") as f:
            f.write(patches.detach().cpu().numpy().astype(FEATURE_DTYPE).tobytes())
        with tgt.open("ab") as f:
            f.write(targets.numpy().astype(np.float32).tobytes())
        valid = patches.reshape(-1, self.dim).double()[targets.reshape(-1) >= 0]
        self.sums += torch.stack([valid.sum(0), (valid ** 2).sum(0)])
        self.n_cells += valid.shape[0]
        self.samples.append(sample)

    def read(self, indices: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """(features [n * h * w, D] float32, targets [n * h * w]) of the images at `indices`."""
        cells = self.grid[0] * self.grid[1]
        feats, tgt = self.paths
        x = np.empty((len(indices), cells * self.dim), dtype=FEATURE_DTYPE)
        t = np.empty((len(indices), cells), dtype=np.float32)
        with feats.open("rb") as fx, tgt.open("rb") as ft:
            for row, i in enumerate(indices):
                fx.seek(int(i) * cells * self.dim * 2)
                fx.readinto(memoryview(x[row]).cast("B"))
                ft.seek(int(i) * cells * 4)
                ft.readinto(memoryview(t[row]).cast("B"))
        return torch.from_numpy(x).reshape(-1, self.dim).float(), torch.from_numpy(t).reshape(-1)

    def mean_sd(self) -> tuple[torch.Tensor, torch.Tensor]:
        mean = self.sums[0] / max(self.n_cells, 1)
        sd = (self.sums[1] / max(self.n_cells, 1) - mean ** 2).clamp(min=0).sqrt()
        return mean.float(), torch.where(sd > 0, sd, torch.ones_like(sd)).float()

    def close(self) -> None:
        if self.folder is not None:
            self.folder.cleanup()
            self.folder = None


def fill_store(run, encoder, samples: Sequence[RsnaSample], placement: str) -> tuple[GridStore, list]:
    """Stream `samples` through `encoder` (the run's engine) into a GridStore; returns it and image failures."""
    store, failures = GridStore(), []
    by_id = {s.patient_id: s for s in samples}
    geometry = encoder.geometry
    for batch in run.image_provider_for(encoder).batches([ImageItem(s.patient_id, s.image_path) for s in samples]):
        failures.extend(batch.failures)
        if batch.embeddings is None:
            continue
        if batch.embeddings.patches is None:
            raise ValueError(f"{encoder.meta.name} returned no patch grid: the segmentation probe needs one")
        patches = batch.embeddings.patches.float().cpu()
        for b, (item, size) in enumerate(zip(batch.items, batch.sizes)):
            sample = by_id[item.key]
            store.append(patches[b], cell_targets(geometry, placement, size, boxes_in(sample, size)), sample)
    return store, failures
