"""The checkpoint directory of a SimCLR image encoder trained with this toolkit:

    DIR/config.json               {"format": "msxr-bench-simclr", "format_version": 1, "image": BioViLImageConfig,
                                   "resize": int, "crop": int, "temperature": float, "training_data": [...],
                                   "description": str}
    DIR/image_model.safetensors   the BioViL-style image model (ResNet trunk + 1x1-conv projector), BioViL's key names

`build_simclr(checkpoint=DIR)` loads it; `msxr-bench train --model biovil --image-init DIR` starts BioViL from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from msxr_bench.adapters.checkpoint_dir import check_format, read_config, require, save_weights, write_config
from msxr_bench.models.biovil import BioViLImageConfig, BioViLImageModel

FORMAT, FORMAT_VERSION = "msxr-bench-simclr", 1
IMAGE_WEIGHTS_NAME = "image_model.safetensors"


@dataclass(frozen=True)
class SimCLRCheckpointConfig:
    image: BioViLImageConfig = field(default_factory=BioViLImageConfig)
    resize: int = 512
    crop: int = 480
    temperature: float = 0.1
    training_data: tuple[str, ...] = ()
    description: str = ""

    def __post_init__(self) -> None:
        if self.image.multi_image:
            raise ValueError("a SimCLR checkpoint holds a single-image encoder")
        if not 0 < self.crop <= self.resize:
            raise ValueError(f"need 0 < crop <= resize, got crop {self.crop}, resize {self.resize}")

    def to_dict(self) -> dict:
        return {"format": FORMAT, "format_version": FORMAT_VERSION, "image": self.image.to_dict(),
                "resize": self.resize, "crop": self.crop, "temperature": self.temperature,
                "training_data": list(self.training_data), "description": self.description}

    @classmethod
    def from_dict(cls, d: dict, source: str) -> "SimCLRCheckpointConfig":
        check_format(d, FORMAT, FORMAT_VERSION, source)
        try:
            return cls(image=BioViLImageConfig.from_dict(d["image"]), resize=int(d["resize"]), crop=int(d["crop"]),
                       temperature=float(d["temperature"]), training_data=tuple(d.get("training_data", ())),
                       description=d.get("description", ""))
        except KeyError as exc:
            raise ValueError(f"{source}: missing field {exc.args[0]!r}") from exc
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{source}: {exc}") from exc


def save_simclr_checkpoint(directory: str | Path, image_model: BioViLImageModel, config: SimCLRCheckpointConfig) -> Path:
    directory = Path(directory)
    if image_model.config != config.image:
        raise ValueError(f"image_model was built with {image_model.config}, config says {config.image}")
    save_weights(image_model, directory / IMAGE_WEIGHTS_NAME)
    write_config(directory, config.to_dict())
    return directory


def read_simclr_config(directory: str | Path) -> SimCLRCheckpointConfig:
    directory, path, d = read_config(directory)
    config = SimCLRCheckpointConfig.from_dict(d, str(path))
    require(directory, directory / IMAGE_WEIGHTS_NAME)
    return config
