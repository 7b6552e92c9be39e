"""Is BioViL's contrastive objective what keeps the tiny BioViL-T from learning progression? A supervised check like
`temporal_augmentation_probe.py` (same rows, geometric augmentation, AdamW 1e-3, batch 32), with the head that a
perfectly separated, locked text side would give: one fixed random unit vector per progression class, logits = cosine
(L2-normalised image embedding, class vector) / tau, as BioViL's InfoNCE scores an image against captions (tau 0.5);
beside it the plain linear head of the augmentation check and a sharper tau.

    python benchmarks/temporal_objective_probe.py --world /tmp/toy-temporal

Writes benchmarks/results/temporal_objective_probe.md (and .json).
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from msxr_bench.training.recipes import get_recipe
from msxr_bench.training.losses import BIOVIL_TAU
from temporal_augmentation_probe import RESULTS, parse_args, probe, training_rows, write_curves


class FixedPrototypes(torch.nn.Module):
    """Logits = cos(embedding, fixed class vector) / tau: a locked text side with one caption per class."""

    def __init__(self, dim: int, tau: float, classes: int = 3, seed: int = 0) -> None:
        super().__init__()
        vectors = torch.randn(classes, dim, generator=torch.Generator().manual_seed(seed))
        self.register_buffer("prototypes", F.normalize(vectors, dim=1))
        self.tau = tau

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, dim=1) @ self.prototypes.T / self.tau


def heads() -> dict:
    return {"linear head (the augmentation check)": None,
            f"fixed class vectors, cosine / {BIOVIL_TAU} (BioViL's tau)": lambda d: FixedPrototypes(d, BIOVIL_TAU),
            "fixed class vectors, cosine / 0.1": lambda d: FixedPrototypes(d, 0.1)}


def main() -> None:
    args = parse_args(__doc__, RESULTS / "temporal_objective_probe.md")
    data = training_rows(args.world)
    augmentation = get_recipe("biovil-t", "tiny").settings.augmentation
    res = {}
    for name, make_head in heads().items():
        start = time.perf_counter()
        curve = probe(data, augmentation, args.steps, args.seed, make_head)
        res[name] = {"curve": curve, "wall_s": round(time.perf_counter() - start)}
        print(name, res[name], flush=True)
    write_curves(res, "# Does the tiny BioViL-T image model learn progression against a locked, separated text? "
                 "(supervised check per head)",
                 f"World `{args.world}` (toy world, scale temporal, seed 0): {len(data[2])} training rows with one "
                 "change and a prior; the tiny BioViL-T recipe's geometric augmentation, AdamW 1e-3, batch 32, seed "
                 f"{args.seed}; held-out accuracy on a quarter of the rows (centre views; chance 1/3).", "head",
                 "temporal_objective_probe.py", args)


if __name__ == "__main__":
    main()
