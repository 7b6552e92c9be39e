"""`biovil-boxes`: the reference box model, a phrase box head (`models/box_head.py`) on a frozen BioViL checkpoint
(its normalised patch grid and phrase embedding). Trained with `msxr-bench train --model biovil-boxes`; its
checkpoint directory:

    DIR/config.json           {"format": "msxr-bench-biovil-boxes", "format_version": 1, "head": BoxHeadConfig,
                               "training_data": [...], "description": str}
    DIR/box_head.safetensors  the head's state_dict
    DIR/backbone/             the BioViL checkpoint directory the head was trained on (`biovil_checkpoint.py`)

The adapter is the backbone's BioViL adapter plus `predict_boxes` (one box per phrase, in input pixels): it also
gives maps, so box tasks score its own boxes and the CNR of its map.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file

from msxr_bench.adapters.base import BOXES, AdapterMeta, PredictedBox
from msxr_bench.adapters.biovil import BioViLAdapter, build_biovil
from msxr_bench.adapters.catalog import BUILTIN
from msxr_bench.adapters.checkpoint_dir import check_format, read_config, require, save_weights, write_config
from msxr_bench.hashing import file_sha256
from msxr_bench.models.box_head import BoxHeadConfig, PhraseBoxHead

CHECKPOINT_FORMAT = "msxr-bench-biovil-boxes"
CHECKPOINT_FORMAT_VERSION = 1
HEAD_WEIGHTS_NAME = "box_head.safetensors"
BACKBONE_SUBDIR = "backbone"


class BioViLBoxAdapter(BioViLAdapter):
    capabilities = BioViLAdapter.capabilities | {BOXES}

    def __init__(self, backbone: BioViLAdapter, head: PhraseBoxHead, meta: AdapterMeta) -> None:
        super().__init__(backbone.image_model, backbone.text_model, backbone.tokenizer, meta, backbone.geometry,
                         backbone.map_placement)
        self.head = head.eval()

    def boxes_and_scores(self, images: torch.Tensor, phrases: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """[B, 4] boxes as fractions of the input and [B] scores, one per (images[i], phrases[i])."""
        patches = self.encode_images(images).patches
        return self.head(patches, self.encode_texts(list(phrases)).to(patches))

    def predict_boxes(self, images: torch.Tensor, phrases: list[str]) -> list[list[PredictedBox]]:
        boxes, scores = self.boxes_and_scores(images, phrases)
        crop = float(self.geometry.crop)
        out = []
        for (x1, y1, x2, y2), score in zip((boxes.double() * crop).tolist(), scores.tolist()):
            out.append([PredictedBox(x1, y1, x2 - x1, y2 - y1, score)] if x2 > x1 and y2 > y1 else [])
        return out


def save_box_checkpoint(directory: Path, head: PhraseBoxHead, backbone_dir: Path, training_data: tuple[str, ...],
                        description: str) -> Path:
    """Write `directory` in the format above (the backbone directory copied in)."""
    import shutil

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copytree(backbone_dir, directory / BACKBONE_SUBDIR, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("training_run.json", "training_step.json"))
    save_weights(head, directory / HEAD_WEIGHTS_NAME)
    write_config(directory, {"format": CHECKPOINT_FORMAT, "format_version": CHECKPOINT_FORMAT_VERSION,
                             "head": head.config.to_dict(), "training_data": list(training_data),
                             "description": description})
    return directory


def build_biovil_boxes(**options: str) -> BioViLBoxAdapter:
    """The reference box model from a checkpoint directory written by `msxr-bench train --model biovil-boxes`."""
    options = BUILTIN["biovil-boxes"].options.parse(options, "biovil-boxes")
    if not options["checkpoint"]:
        raise ValueError("biovil-boxes needs --model-arg checkpoint=DIR (a run's OUTPUT/checkpoint of "
                         "`msxr-bench train --model biovil-boxes`)")
    directory, path, d = read_config(options["checkpoint"])
    check_format(d, CHECKPOINT_FORMAT, CHECKPOINT_FORMAT_VERSION, str(path))
    require(directory, directory / HEAD_WEIGHTS_NAME, directory / BACKBONE_SUBDIR / "config.json")
    backbone = build_biovil(checkpoint=str(directory / BACKBONE_SUBDIR), geometry=options["geometry"])
    try:
        head = PhraseBoxHead(BoxHeadConfig.from_dict(d["head"]))
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise ValueError(f"{path}: bad 'head' section ({exc})") from exc
    head.load_state_dict(load_file(str(directory / HEAD_WEIGHTS_NAME)))
    head_sha = file_sha256(directory / HEAD_WEIGHTS_NAME)
    meta = AdapterMeta(
        name="biovil-boxes", version="1.0", description=d.get("description") or "BioViL + phrase box head",
        weights_source=f"checkpoint {directory} (head {HEAD_WEIGHTS_NAME}; backbone {backbone.meta.weights_source})",
        weights_sha256=head_sha, embedding_dim=backbone.meta.embedding_dim,
        training_data=tuple(d.get("training_data", ())) or backbone.meta.training_data, licence="unknown",
        map_rescale="none")
    return BioViLBoxAdapter(backbone, head, meta)
