"""The `simclr` adapter: an image encoder pretrained with SimCLR by this toolkit (no text side). It declares
`global` (the projected pooled embedding the NT-Xent loss saw, L2-normalised) and `features` (the trunk's map
before the projector: what the classic linear probe reads, BioViL paper Tables 6 / 7's SimCLR rows).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from msxr_bench.adapters.base import FEATURES, GLOBAL, AdapterMeta, EncoderAdapter, ImageEmbeddings
from msxr_bench.adapters.catalog import BUILTIN
from msxr_bench.adapters.simclr_checkpoint import IMAGE_WEIGHTS_NAME, read_simclr_config
from msxr_bench.adapters.weights import load_checked, load_state_dict_file
from msxr_bench.geometry.types import Geometry
from msxr_bench.hashing import file_sha256
from msxr_bench.models.biovil import BioViLImageModel
from msxr_bench.models.resnet import channels_last


class SimCLRAdapter(EncoderAdapter):
    capabilities = frozenset({GLOBAL, FEATURES})

    def __init__(self, image_model: BioViLImageModel, meta: AdapterMeta, geometry: Geometry) -> None:
        super().__init__()
        self.image_model = channels_last(image_model.eval())
        self.meta, self.geometry = meta, geometry

    def _check(self, images: torch.Tensor) -> None:
        crop = self.geometry.crop
        if images.ndim != 4 or tuple(images.shape[1:]) != (3, crop, crop):
            raise ValueError(f"{self.meta.name} expects images [B, 3, {crop}, {crop}], got {tuple(images.shape)}")

    def encode_images(self, images: torch.Tensor) -> ImageEmbeddings:
        self._check(images)
        return ImageEmbeddings(global_=F.normalize(self.image_model(images).mean(dim=(2, 3)), dim=-1))

    def encode_image_features(self, images: torch.Tensor) -> ImageEmbeddings:
        self._check(images)
        features = self.image_model.patch_features(images)
        return ImageEmbeddings(global_=features.mean(dim=(2, 3)), patches=features.permute(0, 2, 3, 1))


def build_simclr(**options: str) -> SimCLRAdapter:
    options = BUILTIN["simclr"].options.parse(options, "simclr")
    if not options["checkpoint"]:
        raise ValueError("simclr has no released weights: pass --model-arg checkpoint=DIR (a run of "
                         "`msxr-bench train --model simclr`)")
    directory = Path(options["checkpoint"]).expanduser()
    config = read_simclr_config(directory)
    weights = directory / IMAGE_WEIGHTS_NAME
    model = BioViLImageModel(config.image)
    load_checked(model, load_state_dict_file(weights), str(weights))
    resize, crop = options["resize"] or config.resize, options["crop"] or config.crop
    meta = AdapterMeta(name="simclr", version="1.0", description=config.description or "SimCLR trained with msxr-bench",
                       weights_source=f"checkpoint {directory}", weights_sha256=file_sha256(weights),
                       embedding_dim=config.image.joint_feature_size, training_data=config.training_data)
    geometry = Geometry("resize_crop", resize=resize, crop=crop, grid=model.grid_size(crop), smoothing_sigma=None)
    return SimCLRAdapter(model, meta, geometry)
