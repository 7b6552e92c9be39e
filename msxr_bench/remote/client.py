"""The harness's side of a remote adapter: start the worker (its own process group), handshake, send requests
with a deadline on every read and write, and stop the worker (clean shutdown, then SIGTERM, then SIGKILL) on
close, at interpreter exit and after Ctrl-C. Torch-free; the EncoderAdapter face is adapter.py.

    session = connect({"python": "/venv/bin/python", "entry": "my_pkg.msxr:make_adapter"})
    session.handshake.capabilities, session.handshake.meta   # known before any compute
"""

from __future__ import annotations

import collections
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from typing import IO, Any, Mapping

import numpy as np

from msxr_bench.remote.protocol import (
    PROTOCOL_VERSION, Handshake, ProtocolError, RemoteHandshakeError, RemoteWorkerError, encode_frame,
    parse_handshake, read_frame,
)
from msxr_bench.remote.spec import WorkerSpec, worker_spec

SHUTDOWN_GRACE = 5.0  # seconds a worker gets to stop by itself before SIGTERM, and again before SIGKILL
POLL = 0.5  # how often a wait checks that the worker process is still there


class WorkerOutput:
    """Forwards the worker's stdout + stderr to this process's stderr, prefixed; keeps the last lines."""

    def __init__(self, stream: IO[bytes], prefix: str) -> None:
        self.prefix, self.tail = prefix, collections.deque(maxlen=30)
        self.thread = threading.Thread(target=self._pump, args=(stream,), name="msxr-remote-output", daemon=True)
        self.thread.start()

    def _pump(self, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            self.tail.append(line)
            try:
                sys.stderr.write(f"[{self.prefix}] {line}\n")
            except (OSError, ValueError):
                pass  # stderr closed at exit: keep draining so the worker never blocks on a full pipe
        stream.close()

    def last_lines(self, n: int = 12) -> str:
        self.thread.join(timeout=1.0)  # a crashed worker's last words
        lines = list(self.tail)[-n:]
        return ("; its last output:\n  " + "\n  ".join(lines)) if lines else "; it printed nothing"


class _Worker:
    """The process and connection of one session, apart from the session so that a finalizer can stop it."""

    def __init__(self, proc: subprocess.Popen, sock: socket.socket | None) -> None:
        self.proc, self.sock, self.owner = proc, sock, os.getpid()
        self.in_sync = True  # false once a request was abandoned half-way (timeout, Ctrl-C): no clean shutdown

    def stop(self, grace: float = SHUTDOWN_GRACE) -> int | None:
        """Ask for a clean shutdown, then terminate, then kill the worker's process group; its exit code."""
        if os.getpid() != self.owner:  # a forked child (e.g. a DataLoader worker) must not stop our worker
            return None
        proc = self.proc
        if proc.poll() is None and self.sock is not None and self.in_sync:
            try:
                self.sock.settimeout(grace)
                for chunk in encode_frame({"op": "shutdown", "id": -1}):
                    self.sock.sendall(chunk)
                proc.wait(grace)
            except (OSError, subprocess.TimeoutExpired):
                pass
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if proc.poll() is not None:
                break
            try:
                os.killpg(proc.pid, sig)  # its own process group: wrappers and the model's children too
            except (ProcessLookupError, PermissionError):
                pass
            try:
                proc.wait(grace if sig == signal.SIGTERM else 10.0)
            except subprocess.TimeoutExpired:
                pass
        if self.sock is not None:
            self.sock.close()
        return proc.poll()


def _exit_reason(code: int | None) -> str:
    if code is None:
        return "did not exit"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


class RemoteSession:
    """One worker process serving one model. `request` is the only way to talk to it; after a crash or a
    timeout the worker is stopped and every later request raises RemoteWorkerError at once."""

    def __init__(self, spec: WorkerSpec, proc: subprocess.Popen, output: WorkerOutput) -> None:
        self.spec, self.output = spec, output
        self.worker = _Worker(proc, None)
        self._finalizer = weakref.finalize(self, self.worker.stop)  # also runs at interpreter exit
        self.handshake: Handshake | None = None
        self.stopped: str | None = None  # why the worker is gone
        self._next_id = 0
        self._lock = threading.Lock()
        # requests answered; seconds from sending to the full reply; seconds the worker spent on them
        self.stats = {"requests": 0, "round_trip_s": 0.0, "worker_s": 0.0}

    @property
    def name(self) -> str:
        meta = self.handshake.meta if self.handshake else {}
        return f"remote model {meta.get('name') or '?'} ({self.spec.entry})"

    @property
    def alive(self) -> bool:
        return self.stopped is None and self.worker.proc.poll() is None

    def _read_exact(self, n: int, deadline: float) -> bytearray:
        buf, got = bytearray(n), 0
        view, sock = memoryview(buf), self.worker.sock
        while got < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            sock.settimeout(min(remaining, POLL))
            try:
                k = sock.recv_into(view[got:])
            except TimeoutError:
                if self.worker.proc.poll() is not None:  # gone, while a child of it still holds the socket
                    raise EOFError from None
                continue
            if k == 0:
                raise EOFError
            got += k
        return buf

    def _fail(self, op: str, why: str) -> RemoteWorkerError:
        """Stop the worker (if it is not gone already) and return the error to raise."""
        code = self.worker.stop(grace=1.0)
        self.stopped = f"{why} (the worker {_exit_reason(code)})"
        return RemoteWorkerError(f"{self.name}: {op}: {self.stopped}{self.output.last_lines()}")

    def request(self, op: str, header: Mapping[str, Any] | None = None, arrays: list[np.ndarray] = (),
                timeout: float | None = None) -> tuple[dict, list[np.ndarray]]:
        """Send one request and wait for its reply (at most `timeout` s, default the spec's); the reply's header
        and arrays. The entry's own exception is a RemoteWorkerError with its traceback; the worker stays up."""
        timeout = self.spec.timeout if timeout is None else timeout
        with self._lock:
            if self.stopped is not None:
                raise RemoteWorkerError(f"{self.name}: {op}: the worker is stopped: {self.stopped}")
            self._next_id += 1
            rid, sock = self._next_id, self.worker.sock
            started = time.monotonic()
            deadline = started + timeout
            self.worker.in_sync = False
            try:
                for chunk in encode_frame({**(header or {}), "op": op, "id": rid}, list(arrays)):
                    sock.settimeout(max(deadline - time.monotonic(), 1e-3))
                    sock.sendall(chunk)
                reply, out = read_frame(lambda n: self._read_exact(n, deadline))
            except TimeoutError:
                raise self._fail(op, f"no answer within {timeout:g} s") from None
            except (EOFError, ConnectionError):
                self._wait_exit()  # a crashed worker's exit code, rather than our SIGTERM
                raise self._fail(op, "the worker went away") from None
            except ProtocolError as exc:
                raise self._fail(op, f"broke the wire protocol: {exc}") from None
            self.worker.in_sync = True
            self.stats["requests"] += 1
            self.stats["round_trip_s"] += time.monotonic() - started
            self.stats["worker_s"] += float(reply.get("worker_s") or 0.0)
            if reply.get("id") != rid:
                raise self._fail(op, f"answered request {reply.get('id')!r} instead of {rid}")
            if not reply.get("ok"):
                trace = "\n  ".join(str(reply.get("traceback", "")).rstrip().splitlines()[-8:])
                raise RemoteWorkerError(f"{self.name}: {op}: the model raised {reply.get('error')}\n  {trace}")
            return reply, out

    def _wait_exit(self) -> None:
        try:
            self.worker.proc.wait(2.0)
        except subprocess.TimeoutExpired:
            pass

    def close(self, grace: float = SHUTDOWN_GRACE) -> None:
        """Stop the worker (clean shutdown first); idempotent."""
        if self._finalizer.alive:
            self._finalizer.detach()
            self.worker.stop(grace)
        self.stopped = self.stopped or "closed"

    def __enter__(self) -> "RemoteSession":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _accept(listener: socket.socket, proc: subprocess.Popen, deadline: float) -> socket.socket | None:
    """The worker's connection, or None when it exited first or the deadline passed."""
    listener.settimeout(POLL)
    while time.monotonic() < deadline:
        try:
            conn, _ = listener.accept()
            return conn
        except TimeoutError:
            if proc.poll() is not None:
                return None
    return None


def connect(options: Mapping[str, Any] | WorkerSpec) -> RemoteSession:
    """Start a worker and handshake with it: a session whose `handshake` says what the model is and can do
    (meta, identity, capabilities, geometry, device, precision), before any compute. Raises
    RemoteHandshakeError (the worker is stopped) when the worker cannot start or describes its model wrongly."""
    spec = options if isinstance(options, WorkerSpec) else worker_spec(options)
    folder = tempfile.mkdtemp(prefix="msxr-remote-")  # mode 0700: only this user can connect
    path = os.path.join(folder, "worker.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(path)
        listener.listen(1)
        argv = spec.argv(path, os.getpid())
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    env=spec.child_env(), start_new_session=True)
        except OSError as exc:
            raise RemoteHandshakeError(f"remote model ({spec.entry}): cannot start {argv[0]}: {exc}") from None
        session = RemoteSession(spec, proc, WorkerOutput(proc.stdout, f"remote {spec.entry.rpartition(':')[2]}"))
        deadline = time.monotonic() + spec.startup_timeout
        session.worker.sock = _accept(listener, proc, deadline)
    finally:
        listener.close()
        shutil.rmtree(folder, ignore_errors=True)
    if session.worker.sock is None:
        why = (f"did not connect within {spec.startup_timeout:g} s" if proc.poll() is None
               else f"{_exit_reason(proc.poll())} before connecting")
        session.close(grace=1.0)
        raise RemoteHandshakeError(f"{session.name}: the worker ({' '.join(argv[:2])}) {why}"
                                   f"{session.output.last_lines()}")
    header = {"protocol_version": PROTOCOL_VERSION, "entry": spec.shipped_entry(), "args": spec.args,
              "pythonpath": list(spec.pythonpath)}
    try:
        reply, _ = session.request("handshake", header, timeout=max(deadline - time.monotonic(), 1.0))
        session.handshake = parse_handshake(reply, session.name)
    except RemoteWorkerError as exc:
        session.close(grace=1.0)
        if isinstance(exc, RemoteHandshakeError):
            raise
        raise RemoteHandshakeError(str(exc)) from None
    return session
