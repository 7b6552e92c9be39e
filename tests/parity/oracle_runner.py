"""Find (or create) the hi-ml-multimodal oracle venv and run an oracle script in it, with its outputs cached
under `${MSXR_CACHE_DIR:-~/.cache/msxr-bench}/parity/<name>-<hash of the script, the shim and the venv pins>`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
ORACLE_ENV_SCRIPT = REPO / "scripts" / "oracle_env.sh"


def cache_root() -> Path:
    return Path(os.environ.get("MSXR_CACHE_DIR", Path.home() / ".cache" / "msxr-bench")).expanduser()


def oracle_python() -> Path:
    """The oracle venv's interpreter, creating the venv if needed; skip (or fail if required) when impossible."""
    proc = subprocess.run(["bash", str(ORACLE_ENV_SCRIPT)], capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-6:])
        reason = f"the hi-ml-multimodal oracle venv could not be created (scripts/oracle_env.sh):\n{tail}"
        if os.environ.get("MSXR_REQUIRE_ORACLE") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    venv = Path(proc.stdout.strip().splitlines()[-1])
    return venv / "bin" / "python"


def run_cached(script: Path, name: str, timeout: int = 900, depends: tuple[Path, ...] = ()) -> Path:
    """Run `python script OUT` in the oracle venv unless OUT (keyed by content hashes of the script, the files it
    imports (`depends`) and the venv) already holds a result."""
    python = oracle_python()
    stamp = python.parent.parent / ".msxr-oracle-stamp"
    h = hashlib.sha256()
    for part in (script, HERE / "tv_cpu_shim.py", *depends):
        h.update(part.read_bytes())
    h.update(stamp.read_bytes() if stamp.exists() else b"no-stamp")
    out = cache_root() / "parity" / f"{name}-{h.hexdigest()[:16]}"
    if (out / "DONE").exists():
        return out
    for stale in (cache_root() / "parity").glob(f"{name}-*"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["HF_HUB_OFFLINE"] = "1"
    proc = subprocess.run([str(python), str(script), str(tmp)], capture_output=True, text=True, env=env,
                          timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"oracle script {script.name} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    tmp.rename(out)
    (out / "DONE").write_text("ok\n")
    return out
