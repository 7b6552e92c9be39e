"""Getting weight files: a local path, or a Hugging Face hub download at a pinned revision; checksums
(sha256 recorded, official MD5/sha256 verified); and, offline, an error that says exactly which file to
download from where and which `--model-arg` to pass. Shared by every adapter.
"""

from __future__ import annotations

import os
import socket
import threading
from dataclasses import dataclass
from fnmatch import fnmatch
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlparse

import torch

from msxr_bench.hashing import file_md5, file_sha256


class WeightsUnavailableError(RuntimeError):
    """A weight file is neither given locally nor obtainable from the hub (e.g. offline)."""


class ChecksumMismatchError(RuntimeError):
    """A file named like an official release does not have the release's checksum."""


@dataclass(frozen=True)
class HubFile:
    """One file of a hub repository at a pinned revision, with its published checksums if known."""

    repo_id: str
    filename: str
    revision: str | None = None
    md5: str | None = None
    sha256: str | None = None

    @property
    def url(self) -> str:
        return f"{_hub_endpoint()}/{self.repo_id}/resolve/{self.revision or 'main'}/{self.filename}"


@dataclass(frozen=True)
class WeightFile:
    """A file ready to load, with where it came from and its sha256."""

    path: Path
    sha256: str
    source: str  # "hf://repo@revision/filename" or the local path
    revision: str | None = None


def _hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def _hub_cache_dir() -> str | None:
    """The hub cache as the environment says now (huggingface_hub reads it once, at import)."""
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    return str(Path(os.environ["HF_HOME"]) / "hub") if os.environ.get("HF_HOME") else None



def hub_offline() -> bool:
    """True when HF_HUB_OFFLINE is set or the hub host cannot be reached within a few seconds.

    huggingface_hub itself retries an unreachable host for ~25 s; this check makes offline use fail fast
    (and still serve files already in the hub cache).
    """
    if os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}:
        return True
    return not _host_reachable(urlparse(_hub_endpoint()).hostname or "", 443)


@lru_cache(maxsize=8)
def _host_reachable(host: str, port: int, timeout: float = 3.0) -> bool:
    ok: list[bool] = []

    def probe() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            ok.append(True)
        except OSError:
            pass

    t = threading.Thread(target=probe, daemon=True)  # name resolution has no timeout of its own
    t.start()
    t.join(timeout)
    return bool(ok)


def missing_weights_message(hub: HubFile, option: str, what: str, reason: str) -> str:
    checks = ", ".join(f"{k} {v}" for k, v in (("MD5", hub.md5), ("sha256", hub.sha256)) if v)
    return (
        f"cannot get the {what} ({reason}).\n"
        f"  Download: {hub.url}\n"
        f"  (hub repo {hub.repo_id}, revision {hub.revision or 'main'}, file {hub.filename}"
        f"{'; ' + checks if checks else ''})\n"
        f"  then pass: --model-arg {option}=/path/to/{hub.filename}"
    )


def hub_download(hub: HubFile, option: str, what: str) -> Path:
    """The file from the hub cache or the hub itself; `WeightsUnavailableError` (fast) when neither works."""
    try:
        from huggingface_hub import hf_hub_download
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise WeightsUnavailableError(missing_weights_message(hub, option, what, "huggingface_hub missing")) from exc
    offline = hub_offline()
    try:
        return Path(hf_hub_download(hub.repo_id, hub.filename, revision=hub.revision, local_files_only=offline,
                                    cache_dir=_hub_cache_dir()))
    except Exception as exc:  # LocalEntryNotFoundError, HTTP errors, connection errors: all mean "not available"
        reason = "offline and not in the Hugging Face cache" if offline else f"{type(exc).__name__}: {exc}"
        raise WeightsUnavailableError(missing_weights_message(hub, option, what, reason)) from exc


def hub_commit_of(path: Path) -> str | None:
    """The commit hash of a file inside the hub cache (`.../snapshots/<commit>/<file>`), else None."""
    parts = Path(path).parts
    return parts[parts.index("snapshots") + 1] if "snapshots" in parts[:-1] else None


def verify_official(path: Path, hub: HubFile | None, verify: bool = True) -> str:
    """sha256 of `path`; when it carries the official file name, also check the published MD5/sha256."""
    sha = file_sha256(path)
    if not verify or hub is None or Path(path).name != hub.filename:
        return sha
    if hub.sha256 and sha != hub.sha256:
        raise ChecksumMismatchError(_mismatch(path, hub, "sha256", sha, hub.sha256))
    if hub.md5:
        md5 = file_md5(path)
        if md5 != hub.md5:
            raise ChecksumMismatchError(_mismatch(path, hub, "MD5", md5, hub.md5))
    return sha


def _mismatch(path: Path, hub: HubFile, kind: str, got: str, want: str) -> str:
    return (f"{path}: {kind} {got} differs from the official {hub.filename} ({hub.repo_id}@{hub.revision}, "
            f"{kind} {want}). A corrupt or different file: download it again from {hub.url}, or, for weights of "
            f"your own under the official name, pass --model-arg verify=false")


def resolve_weight_file(local: str | Path | None, hub: HubFile, option: str, what: str,
                        verify: bool = True) -> WeightFile:
    """A local file (`--model-arg option=PATH`) or the official hub file, checksummed."""
    if local is not None:
        path = Path(local).expanduser()
        if not path.is_file():
            raise WeightsUnavailableError(f"--model-arg {option}={local}: no such file")
        return WeightFile(path, verify_official(path, hub, verify), str(path), None)
    path = hub_download(hub, option, what)
    sha = verify_official(path, hub, verify)
    return WeightFile(path, sha, f"hf://{hub.repo_id}@{hub.revision or 'main'}/{hub.filename}",
                      hub.revision or hub_commit_of(path))


def load_state_dict_file(path: str | Path) -> dict[str, torch.Tensor]:
    """A state_dict from `.safetensors` or a pickle read with `weights_only=True` (no code execution)."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except (SafetensorError, OSError) as exc:  # truncated, corrupt or unreadable
            raise ValueError(f"{path}: not a loadable safetensors file ({exc})") from exc
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"{path}: not a loadable weights file ({type(exc).__name__}: {exc})") from exc
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]  # Lightning-style wrapper
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"{path}: expected a state_dict (a mapping of names to tensors), got {type(obj).__name__}")
    return dict(obj)


def load_checked(module: torch.nn.Module, state_dict: dict[str, torch.Tensor], source: str,
                 ignore_unexpected: tuple[str, ...] = (), allow_missing: tuple[str, ...] = ()) -> None:
    """Strict `load_state_dict` except for named tolerances (fnmatch patterns); clear errors otherwise."""
    state = {k: v for k, v in state_dict.items() if not any(fnmatch(k, p) for p in ignore_unexpected)}
    expected = module.state_dict()
    missing = [k for k in expected if k not in state and not any(fnmatch(k, p) for p in allow_missing)]
    unexpected = [k for k in state if k not in expected]
    shapes = [f"{k}: file {tuple(v.shape)} vs model {tuple(expected[k].shape)}"
              for k, v in state.items() if k in expected and v.shape != expected[k].shape]
    if missing or unexpected or shapes:
        lines = [f"{source}: the weights do not fit {type(module).__name__} "
                 f"({len(missing)} missing, {len(unexpected)} unexpected, {len(shapes)} wrong shapes)"]
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", shapes)):
            if keys:
                lines.append(f"  {label}: {', '.join(keys[:8])}{' ...' if len(keys) > 8 else ''}")
        raise ValueError("\n".join(lines))
    module.load_state_dict(state, strict=False)
