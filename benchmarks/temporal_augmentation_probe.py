"""Why BioViL-T's tiny recipe augments geometry only: can its image model learn progression at all under each
augmentation? A supervised check, not the recipe: the tiny two-image encoder + a linear head trained with
cross-entropy on the progression label of the toy world's training rows (one change, a prior), then accuracy on
held-out rows (a quarter of them, centre views). If the image model cannot learn progression when told, contrastive
training cannot teach it either.

    python benchmarks/temporal_augmentation_probe.py --world /tmp/toy-temporal

Writes benchmarks/results/temporal_augmentation_probe.md (and .json).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from msxr_bench.models.biovil import BioViLImageModel
from msxr_bench.toyworld.temporal import PROGRESSIONS
from msxr_bench.training.augment import Augmentation, augment_batch, centre_view
from msxr_bench.training.recipes import get_recipe
from msxr_bench.training.recipes.biovil import BioViLRecipe
from msxr_bench.training.recipes.biovil_t import TINY_IMAGE_T

RESULTS = Path(__file__).resolve().parent / "results"


def augmentations() -> dict[str, Augmentation | None]:
    """BioViL's tiny augmentation (rotation 5, translate 0.04, scale 0.95-1.05, brightness and contrast 0.8-1.2),
    and its parts; applied to current and prior independently, as the recipe does."""
    full = BioViLRecipe("tiny").settings.augmentation
    return {"none (centre view)": None,
            "geometric only (the tiny BioViL-T recipe)": get_recipe("biovil-t", "tiny").settings.augmentation,
            "intensity only": replace(full, rotation=0.0, translate=0.0, scale=(1.0, 1.0)),
            "geometric + intensity (BioViL's tiny recipe)": full}


def training_rows(world: Path) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """(current canvases, prior canvases, progression labels, crop) of the temporal training rows with one change."""
    truth = json.loads((world / "toyworld-temporal.json").read_text())["subjects"]
    change = {s["current"]: s["changes"][0]["progression"] for s in truth if not s["mscxrt"] and len(s["changes"]) == 1}
    recipe = get_recipe("biovil-t", "tiny")
    train_set, _, _ = recipe.training_sets(world, 0)
    rows = [i for i, p in enumerate(train_set.pairs) if p.dicom_id in change and train_set.priors[i] is not None]
    current = torch.stack([train_set.image(i) for i in rows]).squeeze(1)
    prior = torch.stack([train_set.prior_image(i) for i in rows]).squeeze(1)
    labels = torch.tensor([PROGRESSIONS.index(change[train_set.pairs[i].dicom_id]) for i in rows])
    return current, prior, labels, recipe.settings.crop


def probe(data: tuple, aug: Augmentation | None, steps: int, seed: int,
          make_head: Callable[[int], torch.nn.Module] | None = None) -> list[tuple[int, float, float]]:
    """[(step, training loss, held-out accuracy)] every 100 steps; the head maps the global embedding to class
    logits (default: a linear layer)."""
    current, prior, labels, crop = data
    n = len(labels)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    train, held = order[: n * 3 // 4], order[n * 3 // 4:]
    torch.manual_seed(seed)
    model = BioViLImageModel(TINY_IMAGE_T)
    head = (make_head or (lambda d: torch.nn.Linear(d, 3)))(TINY_IMAGE_T.joint_feature_size)
    optimizer = torch.optim.AdamW([*model.parameters(), *head.parameters()], lr=1e-3, weight_decay=1e-4)
    view = lambda x, g: centre_view(x, crop) if aug is None else augment_batch(x, crop, aug, g)  # noqa: E731
    curve = []
    for step in range(1, steps + 1):
        model.train()
        idx = train[torch.randint(len(train), (32,), generator=torch.Generator().manual_seed(seed * 100_000 + step))]
        g = torch.Generator().manual_seed(seed * 100_000 + step)
        logits = head(model(view(current[idx], g), view(prior[idx], g)).mean(dim=(2, 3)))
        loss = F.cross_entropy(logits, labels[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 100 == 0:
            model.eval()
            with torch.no_grad():
                pred = torch.cat([head(model(centre_view(current[held[k:k + 128]], crop),
                                             centre_view(prior[held[k:k + 128]], crop)).mean(dim=(2, 3))).argmax(1)
                                  for k in range(0, len(held), 128)])
            curve.append((step, round(loss.item(), 3), round((pred == labels[held]).float().mean().item(), 3)))
            print(step, curve[-1], flush=True)
    return curve


def parse_args(doc: str, results: Path) -> argparse.Namespace:
    """The probes' shared options (world, steps, seed, threads, results file); sets torch's thread count."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--world", type=Path, default=Path("/tmp/toy-temporal"))
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--results", type=Path, default=results)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    return args


def write_curves(res: dict, title: str, setup: str, column: str, script: str, args: argparse.Namespace) -> None:
    """The held-out accuracy curves of `res` (name -> {"curve": [(step, loss, accuracy)]}) as a markdown table in
    args.results, every number in its .json."""
    steps = [s for s, _, _ in next(iter(res.values()))["curve"]]
    lines = [title, "", setup, "", f"| {column} | " + " | ".join(f"step {s}" for s in steps) + " |",
             "|---|" + "---|" * len(steps)]
    for name, r in res.items():
        lines.append(f"| {name} | " + " | ".join(f"{acc:.3f}" for _, _, acc in r["curve"]) + " |")
    lines += ["", f"Reproduce: `python benchmarks/{script} --world {args.world} --steps {args.steps} "
              f"--seed {args.seed}`", ""]
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text("\n".join(lines))
    args.results.with_suffix(".json").write_text(json.dumps(res, indent=2) + "\n")
    print("\n".join(lines))


def main() -> None:
    args = parse_args(__doc__, RESULTS / "temporal_augmentation_probe.md")
    data = training_rows(args.world)
    res = {}
    for name, aug in augmentations().items():
        start = time.perf_counter()
        res[name] = {"curve": probe(data, aug, args.steps, args.seed), "wall_s": round(time.perf_counter() - start)}
        print(name, res[name], flush=True)
    write_curves(res, "# Can the tiny BioViL-T image model learn progression? (supervised check per augmentation)",
                 f"World `{args.world}` (toy world, scale temporal, seed 0): {len(data[2])} training rows with one "
                 "change and a prior; a linear head on the two-image global embedding, cross-entropy, AdamW 1e-3, "
                 f"batch 32, seed {args.seed}; held-out accuracy on a quarter of the rows (centre views; chance 1/3). "
                 "Current and prior are augmented independently.", "augmentation", "temporal_augmentation_probe.py",
                 args)


if __name__ == "__main__":
    main()
