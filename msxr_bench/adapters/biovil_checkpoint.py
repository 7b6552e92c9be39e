"""The self-describing checkpoint directory of BioViL-style models trained with this toolkit:

    DIR/config.json               {"format": "msxr-bench-biovil", "format_version": 1,
                                   "model": "biovil"|"biovil-t"|"biovil-l",
                                   "image": BioViLImageConfig, "resize": int, "crop": int, "smoothing_sigma": float,
                                   "training_data": [...], "description": str}
    DIR/image_model.safetensors   the image model's state_dict (the released files' key names)
    DIR/text/                     CXR-BERT via save_pretrained (config.json, model.safetensors) + tokenizer files

`build_biovil(checkpoint=DIR)` / `build_biovil_t(checkpoint=DIR)` load it (see `adapters/biovil.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from transformers import PreTrainedTokenizerBase

from msxr_bench.adapters.checkpoint_dir import check_format, read_config, require, save_weights, write_config
from msxr_bench.models.biovil import BioViLImageConfig, BioViLImageModel
from msxr_bench.models.cxrbert import CXRBertModel

CHECKPOINT_FORMAT = "msxr-bench-biovil"
CHECKPOINT_FORMAT_VERSION = 1
IMAGE_WEIGHTS_NAME = "image_model.safetensors"
TEXT_SUBDIR = "text"
MODELS = ("biovil", "biovil-t", "biovil-l")


@dataclass(frozen=True)
class BioViLCheckpointConfig:
    """What a checkpoint needs beyond the weights: architecture, input geometry and provenance."""

    model: str = "biovil"  # "biovil", "biovil-t" or "biovil-l" (BioViL trained with GLoRIA's local loss)
    image: BioViLImageConfig = field(default_factory=BioViLImageConfig)
    resize: int = 512
    crop: int = 480
    smoothing_sigma: float | None = 1.5
    training_data: tuple[str, ...] = ()
    description: str = ""

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ValueError(f"model must be one of {', '.join(MODELS)}, got {self.model!r}")
        if self.image.multi_image != (self.model == "biovil-t"):
            raise ValueError(f"model {self.model!r} needs image.multi_image={self.model == 'biovil-t'}")
        if not 0 < self.crop <= self.resize:
            raise ValueError(f"need 0 < crop <= resize, got crop {self.crop}, resize {self.resize}")

    def to_dict(self) -> dict:
        return {"format": CHECKPOINT_FORMAT, "format_version": CHECKPOINT_FORMAT_VERSION, "model": self.model,
                "image": self.image.to_dict(), "resize": self.resize, "crop": self.crop,
                "smoothing_sigma": self.smoothing_sigma, "training_data": list(self.training_data),
                "description": self.description}

    @classmethod
    def from_dict(cls, d: dict, source: str = "config.json") -> BioViLCheckpointConfig:
        check_format(d, CHECKPOINT_FORMAT, CHECKPOINT_FORMAT_VERSION, source)
        try:
            return cls(model=d["model"], image=BioViLImageConfig.from_dict(d["image"]), resize=int(d["resize"]),
                       crop=int(d["crop"]), smoothing_sigma=d.get("smoothing_sigma"),
                       training_data=tuple(d.get("training_data", ())), description=d.get("description", ""))
        except KeyError as exc:
            raise ValueError(f"{source}: missing field {exc.args[0]!r}") from exc
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{source}: {exc}") from exc


def save_biovil_checkpoint(directory: str | Path, image_model: BioViLImageModel, text_model: CXRBertModel,
                           tokenizer: PreTrainedTokenizerBase, config: BioViLCheckpointConfig) -> Path:
    """Write `directory` in the format above; returns it. Overwrites files of the same names."""
    directory = Path(directory)
    if image_model.config != config.image:
        raise ValueError(f"image_model was built with {image_model.config}, config says {config.image}")
    save_weights(image_model, directory / IMAGE_WEIGHTS_NAME)
    text_model.save_pretrained(str(directory / TEXT_SUBDIR), safe_serialization=True)
    tokenizer.save_pretrained(str(directory / TEXT_SUBDIR))
    write_config(directory, config.to_dict())
    return directory


def read_checkpoint_config(directory: str | Path) -> BioViLCheckpointConfig:
    """The config of checkpoint `directory`, with clear errors for a wrong or incomplete directory."""
    directory, path, d = read_config(directory)
    config = BioViLCheckpointConfig.from_dict(d, str(path))
    require(directory, directory / IMAGE_WEIGHTS_NAME, directory / TEXT_SUBDIR / "config.json")
    return config
