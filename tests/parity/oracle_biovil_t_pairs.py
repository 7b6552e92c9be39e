"""The BioViL-T two-image oracle: run by tests/parity/test_biovil_t_pairs_parity.py inside the hi-ml-multimodal venv
(scripts/oracle_env.sh), never imported by msxr-bench.

    python oracle_biovil_t_pairs.py OUT_DIR

Writes the synthetic radiographs of oracle_biovil.py, a random but discriminating BioViL-T image model (saved in the
released format) and a text model, and records what hi-ml's `MultiImageModel` computes for a batch of
(current, prior) pairs and for the same current images without a prior (`previous_image=None`): projected patch
embeddings and the projected global embedding (`outputs.npz`, `manifest.json`).
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import tv_cpu_shim  # noqa: E402,F401  (before anything imports torchvision)

warnings.filterwarnings("ignore", category=FutureWarning, module="timm")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from health_multimodal.image import ImageInferenceEngine  # noqa: E402
from health_multimodal.image.data.io import load_image  # noqa: E402
from health_multimodal.image.data.transforms import create_chest_xray_transform_for_inference  # noqa: E402
from health_multimodal.image.model.model import ImageModel, MultiImageModel  # noqa: E402

from oracle_biovil import build_text_model, discriminate_image_model, write_images  # noqa: E402

WEIGHTS = "biovil_t_image_model_proj_size_128.pt"
CROP = 448
# (current, prior): a MIMIC-size JPEG with a 16-bit PNG prior, an RGB JPEG with a DICOM prior, two small files
PAIRS = [("mimic_portrait.jpg", "landscape_16bit.png"), ("rgb_small.jpg", "scan.dcm"),
         ("small_8bit.png", "rgb_small.jpg")]


def main(out: Path) -> None:
    torch.set_num_threads(int(os.environ.get("ORACLE_THREADS", "2")))
    out.mkdir(parents=True, exist_ok=True)
    images = out / "images"
    write_images(images)
    _, text_dir = build_text_model(out)
    model = ImageModel(img_encoder_type="resnet50_multi_image", joint_feature_size=128)
    discriminate_image_model(model, seed=37)
    weights = out / "biovil_t" / WEIGHTS
    weights.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), weights)
    multi = MultiImageModel(img_encoder_type="resnet50_multi_image", joint_feature_size=128,
                            pretrained_model_path=weights).eval()
    transform = create_chest_xray_transform_for_inference(resize=512, center_crop_size=CROP)
    current = torch.stack([transform(load_image(images / c)) for c, _ in PAIRS])
    previous = torch.stack([transform(load_image(images / p)) for _, p in PAIRS])
    arrays: dict[str, np.ndarray] = {"current_u8": (current[:, 0] * 255).round().to(torch.uint8).numpy(),
                                     "previous_u8": (previous[:, 0] * 255).round().to(torch.uint8).numpy()}
    with torch.no_grad():
        paired = multi(current, previous)
        absent = multi(current, None)
        swapped = multi(previous, current)
    for key, output in (("paired", paired), ("absent", absent), ("swapped", swapped)):
        arrays[f"{key}_projected_patches"] = output.projected_patch_embeddings.detach().numpy()
        arrays[f"{key}_projected_global"] = output.projected_global_embedding.detach().numpy()
    single = ImageInferenceEngine(ImageModel(img_encoder_type="resnet50_multi_image", joint_feature_size=128,
                                             pretrained_model_path=weights).eval(), transform)
    arrays["single_image_global"] = np.stack([single.get_projected_global_embedding(images / c).detach().numpy()
                                              for c, _ in PAIRS])
    manifest = {"pairs": PAIRS, "crop": CROP, "weights": str(weights.relative_to(out)),
                "text_model": text_dir.name}
    np.savez_compressed(out / "outputs.npz", **arrays)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
