"""Find (or create) the hi-ml-multimodal oracle venv and run an oracle script in it, with its outputs cached
under `${MSXR_CACHE_DIR:-~/.cache/msxr-bench}/parity/<name>-<hash of the script, the shim and the venv pins>`.
Safe for concurrent test runs: one run computes under an exclusive lock (`parity/<name>.lock`) into a fresh
temporary folder, renamed into place complete (with its DONE marker); the others wait and reuse it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
ORACLE_ENV_SCRIPT = REPO / "scripts" / "oracle_env.sh"
STALE_AFTER_S = 7 * 24 * 3600  # other versions' outputs and abandoned temporary folders are pruned after this


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
    parity = cache_root() / "parity"
    out = parity / f"{name}-{h.hexdigest()[:16]}"
    if (out / "DONE").exists():
        return out
    parity.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(parity / f"{name}.lock"):
        if (out / "DONE").exists():  # computed by another run while this one waited
            return out
        tmp = Path(tempfile.mkdtemp(dir=parity, prefix=f".{out.name}."))
        try:
            env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
            env["HF_HUB_OFFLINE"] = "1"
            proc = subprocess.run([str(python), str(script), str(tmp)], capture_output=True, text=True, env=env,
                                  timeout=timeout)
            if proc.returncode != 0:
                raise RuntimeError(f"oracle script {script.name} failed (exit {proc.returncode}):\n"
                                   f"{proc.stderr[-4000:]}")
            (tmp / "DONE").write_text("ok\n")
            if out.exists():  # an incomplete folder of an older layout (no DONE): nobody can be using it
                shutil.rmtree(out)
            os.rename(tmp, out)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        prune_stale(parity, name, keep=out)
    return out


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on `path` (flock), released when the block ends or the process dies."""
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def prune_stale(parity: Path, name: str, keep: Path) -> None:
    """Remove other versions' outputs and abandoned temporary folders of `name` untouched for a week (a
    run of another checkout may still be reading a recent one)."""
    now = time.time()
    for stale in [*parity.glob(f"{name}-*"), *parity.glob(f".{name}-*")]:
        if stale != keep and stale.is_dir() and now - stale.stat().st_mtime > STALE_AFTER_S:
            shutil.rmtree(stale, ignore_errors=True)
