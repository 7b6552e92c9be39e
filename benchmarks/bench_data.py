"""Synthetic MS-CXR data roots for the benchmarks: N radiograph-like JPEGs in the MIMIC-CXR-JPG layout and an
MS-CXR v0.1 annotation CSV (the official columns), with MS-CXR's own phrases-per-image ratio by default
(1,162 pairs on 1,047 images: most images one phrase, some two, a few three) and repeated phrasings.

    python benchmarks/bench_data.py OUT --images 30 --height 3056 --width 2544
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
from PIL import Image

from msxr_bench.data.types import MS_CXR_CATEGORIES

# MS-CXR 0.1: 1,162 pairs on 1,047 images -> shares of images with 1, 2 and 3 phrases
PHRASES_PER_IMAGE = {1: 0.905, 2: 0.085, 3: 0.010}
PHRASINGS = {  # words of the toy CXR-BERT vocabulary (tests/biovil_files.py), so token counts are realistic
    "Atelectasis": ["left basilar atelectasis", "Right base atelectasis", "bilateral basilar atelectasis"],
    "Cardiomegaly": ["cardiomegaly", "enlarged heart size", "Moderate cardiomegaly"],
    "Consolidation": ["right lower lobe consolidation", "Left upper lobe consolidation"],
    "Edema": ["mild edema", "Diffuse edema", "moderate edema"],
    "Lung Opacity": ["opacity in the left lower lobe", "Right basilar opacity", "patchy opacities"],
    "Pleural Effusion": ["small left pleural effusion", "Right pleural effusion", "bilateral effusions"],
    "Pneumonia": ["right lower lobe pneumonia", "Left basilar pneumonia", "focal pneumonia"],
    "Pneumothorax": ["Pneumothorax", "small right apical pneumothorax", "left pneumothorax"],
}
COLUMNS = ("dicom_id", "category_name", "label_text", "path", "x", "y", "w", "h", "image_width", "image_height")


def radiograph(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """uint8 [H, W]: bright thorax, two dark lungs, ribs, a lesion, noise (compresses like a real CXR JPEG)."""
    yy = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    xx = np.linspace(0, 1, width, dtype=np.float32)[None, :]
    img = 0.55 + 0.25 * float(rng.random()) * yy + 0.05 * xx
    for cx in (0.3, 0.7):
        c = cx + 0.04 * float(rng.standard_normal())
        img = img - 0.3 * ((((xx - c) / 0.17) ** 2 + ((yy - 0.5) / 0.33) ** 2) < 1)
    img = img + 0.05 * np.sin(yy * float(rng.uniform(25, 45)))
    bx, by = rng.uniform(0.25, 0.75, 2)
    img = img + 0.3 * np.exp(-(((xx - bx) ** 2 + (yy - by) ** 2) / 0.01))
    small = rng.standard_normal((height // 4 + 1, width // 4 + 1)).astype(np.float32)
    img = img + 0.04 * np.kron(small, np.ones((4, 4), np.float32))[:height, :width]  # grain
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


def write_mscxr_root(root: Path, n_images: int, height: int = 3056, width: int = 2544, seed: int = 0,
                     phrases_per_image: dict[int, float] | None = None, quality: int = 95) -> dict:
    """Write DATA_ROOT/mimic-cxr-jpg/files/... and DATA_ROOT/ms-cxr/MS_CXR_Local_Alignment_v1.0.0.csv.
    Returns {"images": n, "pairs": n, "paths": [...], "pairs_list": [(path, phrase), ...]}; reuses a root
    already written with the same arguments."""
    root = Path(root)
    stamp = root / "bench_data.txt"
    spec = f"{n_images} {height} {width} {seed} {sorted((phrases_per_image or PHRASES_PER_IMAGE).items())} {quality}"
    rng = np.random.default_rng(seed)
    shares = phrases_per_image or PHRASES_PER_IMAGE
    counts = rng.choice(list(shares), size=n_images, p=np.array(list(shares.values())) / sum(shares.values()))
    rows, pairs, paths = [], [], []
    for i in range(n_images):
        subject, study = 10000000 + i, 50000000 + i
        dicom = f"{seed:08x}-{i:08x}-bench000-00000000-{i:08x}"
        rel = f"files/p{str(subject)[:2]}/p{subject}/s{study}/{dicom}.jpg"
        path = root / "mimic-cxr-jpg" / rel
        paths.append(path)
        cats = rng.choice(MS_CXR_CATEGORIES, size=int(counts[i]), replace=False)
        for cat in cats:
            phrase = str(rng.choice(PHRASINGS[str(cat)]))
            pairs.append((path, phrase))
            for _ in range(int(rng.integers(1, 3))):
                w, h = int(rng.uniform(0.1, 0.4) * width), int(rng.uniform(0.1, 0.4) * height)
                x, y = int(rng.uniform(0, width - w)), int(rng.uniform(0, height - h))
                rows.append([dicom, str(cat), phrase, rel, x, y, w, h, width, height])
    if stamp.is_file() and stamp.read_text() == spec:
        return {"images": n_images, "pairs": len(pairs), "paths": paths, "pairs_list": pairs}
    for i, path in enumerate(paths):
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(radiograph(height, width, np.random.default_rng([seed, i]))).save(path, quality=quality)
    ann = root / "ms-cxr" / "MS_CXR_Local_Alignment_v1.0.0.csv"
    ann.parent.mkdir(parents=True, exist_ok=True)
    with open(ann, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    stamp.write_text(spec)
    return {"images": n_images, "pairs": len(pairs), "paths": paths, "pairs_list": pairs}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--images", type=int, default=30)
    ap.add_argument("--height", type=int, default=3056)
    ap.add_argument("--width", type=int, default=2544)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    info = write_mscxr_root(args.out, args.images, args.height, args.width, args.seed)
    print(f"{info['images']} images, {info['pairs']} (image, phrase) pairs under {args.out}")


if __name__ == "__main__":
    main()
