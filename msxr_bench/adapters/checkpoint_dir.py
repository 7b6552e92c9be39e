"""What every toolkit checkpoint directory shares (BioViL, GLoRIA, ConVIRT): a `config.json` naming its format
and version, safetensors weights, and clear errors for a wrong or incomplete directory. Each model's own
fields live in its `*_checkpoint` module.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file

CONFIG_NAME = "config.json"


def read_config(directory: str | Path) -> tuple[Path, Path, dict]:
    """(directory, its config.json, the parsed config) of checkpoint `directory`."""
    directory = Path(directory).expanduser()
    path = directory / CONFIG_NAME
    if not path.is_file():
        raise FileNotFoundError(f"--model-arg checkpoint={directory}: no {CONFIG_NAME} (not a checkpoint directory)")
    try:
        return directory, path, json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: invalid JSON ({exc})") from exc


def check_format(d: dict, fmt: str, version: int, source: str) -> None:
    """The config says it is format `fmt` at `version`, or a ValueError naming `source`."""
    if d.get("format") != fmt:
        raise ValueError(f"{source}: not a {fmt} checkpoint (format={d.get('format')!r})")
    if d.get("format_version") != version:
        raise ValueError(f"{source}: format_version {d.get('format_version')!r} is not supported "
                         f"(this msxr-bench reads {version})")


def require(directory: Path, *needed: Path) -> None:
    for path in needed:
        if not path.exists():
            raise FileNotFoundError(f"checkpoint {directory} is incomplete: {path} is missing")


def save_weights(module: torch.nn.Module, path: Path) -> None:
    """`module`'s state_dict as safetensors (CPU, contiguous)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}, str(path))


def write_config(directory: Path, config: dict) -> None:
    (directory / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n")
