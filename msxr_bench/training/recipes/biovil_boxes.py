"""biovil-boxes: the reference box model's recipe. A phrase box head (`models/box_head.py`) trained on a frozen
BioViL checkpoint (`--image-init DIR`, e.g. fixtures/models/tiny-biovil) with L1 + GIoU (+ the score's BCE against
its box's IoU) on MS-CXR v1.1.0's train split, validation loss on its val split; the target of a phrase is the box
enclosing its true boxes, in the model input. No geometric augmentation (a flip or shift would move the target);
mild brightness/contrast jitter. The backbone stays in eval mode (frozen batch norm); only the head learns.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torch.utils.data import Dataset
from transformers import PreTrainedTokenizerBase

from msxr_bench.adapters.biovil import BioViLAdapter, build_biovil
from msxr_bench.adapters.biovil_boxes import save_box_checkpoint
from msxr_bench.adapters.biovil_checkpoint import TEXT_SUBDIR, read_checkpoint_config
from msxr_bench.data.mscxr import find_mscxr_annotations, load_mscxr
from msxr_bench.data.types import SkipReport
from msxr_bench.geometry.types import Geometry
from msxr_bench.models.box_head import BoxHeadConfig, PhraseBoxHead, box_losses
from msxr_bench.training.augment import Augmentation
from msxr_bench.training.box_data import BoxPhraseDataset
from msxr_bench.training.data import TextPolicy
from msxr_bench.training.recipes.base import Recipe, RecipeSettings, stack_images
from msxr_bench.training.vocab import load_tokenizer

RELEASE = "1.1.0"


class BoxTrainModule(nn.Module):
    """Frozen BioViL adapter (eval mode always) + trainable head; forward = the box losses of a batch."""

    def __init__(self, backbone: BioViLAdapter, head: PhraseBoxHead) -> None:
        super().__init__()
        self.backbone, self.head = backbone.eval(), head
        for p in self.backbone.parameters():
            p.requires_grad_(False)

    def train(self, mode: bool = True) -> "BoxTrainModule":
        super().train(mode)
        self.backbone.eval()
        return self

    def forward(self, batch: dict) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            patches = self.backbone.encode_images(batch["images"]).patches
            phrases = self.backbone.encode_texts(batch["phrases"]).to(patches)
        boxes, scores = self.head(patches, phrases)
        return box_losses(boxes, scores, batch["boxes"])


class BioViLBoxesRecipe(Recipe):
    name = "biovil-boxes"

    def __init__(self, config: str, text_model: str | None = None, image_init: str | None = None) -> None:
        if text_model:
            raise ValueError("biovil-boxes reads its text model from the backbone checkpoint (--image-init DIR)")
        if not image_init:
            raise ValueError("biovil-boxes trains a head on a BioViL checkpoint directory: pass --image-init DIR "
                             "(e.g. fixtures/models/tiny-biovil, or a run's OUTPUT/checkpoint)")
        self.backbone_dir = Path(image_init).expanduser()
        self.backbone_config = read_checkpoint_config(self.backbone_dir)
        self.config, self.text_model, self.image_init = config, None, str(self.backbone_dir)
        self.settings = self.make_settings()

    def make_settings(self) -> RecipeSettings:
        c = self.backbone_config
        aug = Augmentation(brightness=(0.9, 1.1), contrast=(0.9, 1.1))
        return RecipeSettings(crop=c.crop, canvas=c.resize, canvas_kind="resize_crop", augmentation=aug,
                              text=TextPolicy(), optimizer="adamw", lr=3e-3, weight_decay=1e-4, batch_size=16,
                              max_steps=400, warmup_steps=10, schedule="cosine", grad_clip=1.0, val_every=100,
                              save_every=400, cache_images=True,
                              notes=("frozen backbone; the head trains on MS-CXR v1.1.0 train boxes",))

    def model_geometry(self) -> Geometry:
        c = self.backbone_config
        return Geometry("resize_crop", resize=c.resize, crop=c.crop, grid=(1, 1))

    def training_sets(self, data_root: Path, seed: int, max_train_pairs: int | None = None
                      ) -> tuple[Dataset, Dataset | None, SkipReport]:
        annotations = find_mscxr_annotations(data_root, RELEASE)
        train, skips = load_mscxr(annotations, data_root, split="train")
        val, _ = load_mscxr(annotations, data_root, split="val")
        if max_train_pairs:
            train = train[:max_train_pairs]
        s, model = self.settings, self.model_geometry()
        return (BoxPhraseDataset(train, s.canvas_geometry(), model, s.cache_images),
                BoxPhraseDataset(val, s.canvas_geometry(), model, s.cache_images) if val else None, skips)

    def make_tokenizer(self, corpus: list[str], directory: Path) -> PreTrainedTokenizerBase:
        """The backbone's own tokenizer (the head reads the backbone's phrase embeddings)."""
        tokenizer = load_tokenizer(self.backbone_dir / TEXT_SUBDIR)
        tokenizer.save_pretrained(str(directory))
        return tokenizer

    def build(self, tokenizer: PreTrainedTokenizerBase) -> BoxTrainModule:
        backbone = build_biovil(checkpoint=str(self.backbone_dir))
        config = BoxHeadConfig(embedding_dim=int(backbone.meta.embedding_dim), grid=backbone.geometry.grid)
        return BoxTrainModule(backbone, PhraseBoxHead(config))

    def collate(self, samples: list[dict], tokenizer: PreTrainedTokenizerBase, seed: int) -> dict:
        return {"images": stack_images(samples), "phrases": [s["phrase"] for s in samples],
                "boxes": torch.stack([s["box"] for s in samples])}

    def export(self, module: BoxTrainModule, tokenizer: PreTrainedTokenizerBase, directory: Path,
               training_data: tuple[str, ...], description: str) -> Path:
        data = tuple(dict.fromkeys(tuple(self.backbone_config.training_data) + tuple(training_data)))
        return save_box_checkpoint(directory, module.head, self.backbone_dir, data,
                                   f"{description}; head on the frozen backbone {self.backbone_dir.name}")
