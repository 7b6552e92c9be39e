"""A remote adapter's worker process misbehaving, and the harness staying in control: a crash (exit or
segfault) or a hang is a RemoteWorkerError naming the model and the request, within the timeout; one bad item
is a RemoteItemError with the others intact; a wrong handshake stops before compute; close, interpreter exit,
Ctrl-C and a killed harness all leave no worker behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from msxr_bench.remote import client
from msxr_bench.remote.adapter import RemoteAdapter
from msxr_bench.remote.client import connect
from msxr_bench.remote.protocol import RemoteHandshakeError, RemoteItemError, RemoteWorkerError
from remote_fake_entry import _l2, patch_features
from subprocess_signals import default_sigint

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
ENTRY = f"{HERE / 'remote_fake_entry.py'}:make"


def _images(n: int, seed: int = 0) -> tuple[torch.Tensor, np.ndarray]:
    crops = np.random.default_rng(seed).integers(0, 256, (n, 64, 64), dtype=np.uint8)
    return torch.from_numpy(crops).float().div(255).unsqueeze(1).expand(-1, 3, -1, -1), crops


def _adapter(timeout: float = 30, **args: str) -> RemoteAdapter:
    return RemoteAdapter(connect({"entry": ENTRY, "timeout": timeout, **{f"arg.{k}": v for k, v in args.items()}}))


def _gone(pid: int) -> bool:
    """No such process, or a zombie nobody reaped yet (it runs nothing)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


def _wait_gone(pid: int, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if _gone(pid):
            return True
        time.sleep(0.05)
    return _gone(pid)


@pytest.mark.parametrize("how, reason", [("exit", "exited with code 3"), ("segv", "killed by SIGSEGV")])
def test_a_crash_names_the_model_the_request_and_the_exit(how: str, reason: str) -> None:
    adapter = _adapter(crash_on="encode_images", crash_how=how)
    pid = adapter.session.handshake.worker["pid"]
    with pytest.raises(RemoteWorkerError, match=f"(?s)fake-remote.*encode_images: the worker went away.*{reason}"
                                                ".*about to crash in encode_images"):
        adapter.encode_images(_images(2)[0])
    assert _wait_gone(pid, 5)
    with pytest.raises(RemoteWorkerError, match="encode_texts: the worker is stopped"):  # at once, no wait
        adapter.encode_texts(["effusion"])


def test_a_hang_is_a_timeout_and_the_worker_is_killed() -> None:
    adapter = _adapter(timeout=1.0, hang_on="encode_texts")
    pid = adapter.session.handshake.worker["pid"]
    t0 = time.monotonic()
    with pytest.raises(RemoteWorkerError, match=r"fake-remote.*encode_texts: no answer within 1 s"):
        adapter.encode_texts(["effusion"])
    assert time.monotonic() - t0 < 6  # 1 s timeout + SIGTERM grace
    assert _wait_gone(pid, 5)


@pytest.mark.parametrize("what, why", [("shape", "patches has shape [3, 4, 8]"), ("dtype", "global has dtype int64"),
                                       ("nan", "non-finite"), ("raise", "failed on this item: ValueError: this image is too dark")])
def test_one_bad_item_is_an_item_error_and_the_others_are_kept(what: str, why: str) -> None:
    adapter = _adapter(bad_item="1", bad_what=what)
    images, crops = _images(3)
    with pytest.raises(RemoteItemError) as info:
        adapter.encode_images(images)
    assert list(info.value.failures) == [1] and why in info.value.failures[1] and info.value.kept == [0, 2]
    expected = patch_features(crops[[0, 2]].astype(np.float32) / 255)
    np.testing.assert_allclose(info.value.partial.patches.numpy(), _l2(expected), rtol=0, atol=1e-6)
    assert adapter.encode_texts(["still up"]).shape == (1, 8)  # the worker serves on
    adapter.close()


def test_the_entrys_own_exception_is_reported_and_the_worker_serves_on() -> None:
    adapter = _adapter()
    with pytest.raises(RemoteWorkerError, match="(?s)similarity_grid: the model raised NotImplementedError"):
        adapter.session.request("similarity_grid", {}, [np.zeros((1, 4, 4, 8), np.float32), np.zeros((1, 8))])
    assert adapter.session.alive and adapter.encode_texts(["a"]).shape == (1, 8)
    adapter.close()


@pytest.mark.parametrize("options, match", [
    ({"arg.fail_start": "missing.pt"}, "(?s)handshake: the model raised RuntimeError: cannot load the weights: "
                                       "missing.pt"),
    ({"arg.describe": json.dumps({"capabilities": ["global", "image_pairs"]})},
     "wrong handshake: .*no encode_image_pairs"),
    ({"entry": "no_such_module_xyz:make"}, "ModuleNotFoundError: No module named 'no_such_module_xyz'"),
    ({"python": "/nonexistent/bin/python"}, "cannot start /nonexistent/bin/python"),
    ({"command": f"{sys.executable} -c pass"}, "exited with code 0 before connecting"),
])
def test_a_wrong_start_or_handshake_stops_before_compute(options: dict, match: str) -> None:
    with pytest.raises(RemoteHandshakeError, match=match):
        connect({"entry": ENTRY, **options})


def test_a_protocol_version_mismatch_is_refused_by_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client, "PROTOCOL_VERSION", 99)
    with pytest.raises(RemoteHandshakeError, match="protocol version mismatch: the harness speaks 99"):
        connect({"entry": ENTRY})


def test_a_worker_that_never_connects_is_not_waited_for_forever() -> None:
    t0 = time.monotonic()
    with pytest.raises(RemoteHandshakeError, match="did not connect within 1 s"):
        connect({"entry": ENTRY, "command": f"{sys.executable} -c 'import time; time.sleep(60)'",
                 "startup_timeout": "1"})
    assert time.monotonic() - t0 < 8


def test_close_is_a_clean_shutdown() -> None:
    adapter = _adapter()
    proc = adapter.session.worker.proc
    adapter.close()
    assert proc.returncode == 0  # exited by itself on the shutdown request, not killed
    adapter.close()  # idempotent
    with pytest.raises(RemoteWorkerError, match="stopped: closed"):
        adapter.encode_texts(["a"])


HARNESS = """
import sys, time
from msxr_bench.remote.client import connect
session = connect({{"entry": {entry!r}, "arg.pidfile": {pidfile!r}, "arg.hang_on": "encode_texts"}})
print("connected", flush=True)
{action}
"""


def _harness(tmp_path: Path, action: str) -> tuple[subprocess.Popen, int]:
    pidfile = tmp_path / "worker.pid"
    code = HARNESS.format(entry=ENTRY, pidfile=str(pidfile), action=action)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=REPO, text=True)
    assert proc.stdout.readline().strip() == "connected", proc.stderr.read()
    return proc, int(pidfile.read_text())


def _wait_for(path: Path, proc: subprocess.Popen, seconds: float) -> None:
    end = time.monotonic() + seconds
    while not path.exists():
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.monotonic() < end, f"{path.name} never appeared"
        time.sleep(0.05)


def test_ctrl_c_in_evaluate_leaves_no_worker(toyworld_root: Path, tmp_path: Path) -> None:
    pidfile = tmp_path / "worker.pid"
    proc = subprocess.Popen(
        [sys.executable, "-m", "msxr_bench", "evaluate", "--model", "remote", "--model-arg", f"entry={ENTRY}",
         "--model-arg", f"arg.pidfile={pidfile}", "--model-arg", "arg.hang_on=encode_images", "--task", "ms-cxr",
         "--data-root", str(toyworld_root), "--output", str(tmp_path / "out"), "--num-workers", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO, text=True, preexec_fn=default_sigint)
    _wait_for(tmp_path / "worker.pid.busy", proc, 60)  # the run is inside encode_images, the worker hanging
    pid = int(pidfile.read_text())
    proc.send_signal(signal.SIGINT)  # what Ctrl-C sends to the harness (the worker has its own process group)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and err.count("interrupted:") == 1 and "Traceback" not in err, err
    assert _wait_gone(pid, 5), f"worker {pid} survived Ctrl-C of the harness"
    # stopped by the harness on its way out (a request was cut half-way: no clean shutdown, SIGTERM)
    assert (tmp_path / "worker.pid.end").read_text() == "SIGTERM"


def test_interpreter_exit_shuts_an_unclosed_worker_down_cleanly(tmp_path: Path) -> None:
    proc, pid = _harness(tmp_path, "")
    assert proc.wait(timeout=30) == 0
    assert _wait_gone(pid, 5)
    assert (tmp_path / "worker.pid.end").read_text() == "closed"


def test_a_killed_harness_leaves_no_worker(tmp_path: Path) -> None:
    busy = ('import threading; threading.Thread(target=session.request, args=("encode_texts", {"texts": ["a"]}), '
            'daemon=True).start(); print("waiting", flush=True); time.sleep(60)')
    proc, pid = _harness(tmp_path, busy)
    assert proc.stdout.readline().strip() == "waiting"
    time.sleep(0.3)  # the worker is busy (hanging in the request): only its watch of the harness can end it
    os.kill(proc.pid, signal.SIGKILL)  # no atexit, no finalizer
    proc.wait(timeout=10)
    assert _wait_gone(pid, 5)
    assert not (tmp_path / "worker.pid.end").exists()  # it exited by itself
