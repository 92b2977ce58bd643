"""Shared fixtures for the tests of bootstrap/worker.py.

* ``group`` / ``gw``: execnet's own master (the real ``execnet`` package)
  whose popen bootstrap is replaced by ours, so every ``makegateway("popen")``
  starts bootstrap/worker.py in boot mode (source line with EXECDECK_BOOT).
* ``raw_worker``: a worker started as a plain script, driven message by
  message (for things execnet's master can't show: ordering, garbage
  collection, protocol errors, master death).
* ``worker``: bootstrap/worker.py imported as a module (serializer tests).

Every wait is bounded; an autouse watchdog dumps tracebacks and exits if a
test hangs anyway.
"""

import faulthandler
import importlib.util
import os
import select
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

import execnet
from execnet import gateway_bootstrap

ROOT = Path(__file__).resolve().parents[2]
WORKER_PATH = ROOT / "bootstrap" / "worker.py"
WORKER_SOURCE = WORKER_PATH.read_text(encoding="utf-8")
MARKER = b"\x00EXECDECK\x00"
BOOTLINE = "import sys;exec(eval(sys.stdin.readline()))"
TIMEOUT = 10.0
ORIGINAL_BOOTSTRAP_EXEC = gateway_bootstrap.bootstrap_exec

#: Interpreter for the workers (default: the one running the tests); set
#: EXECDECK_TEST_PYTHON to run every worker under another Python.
WORKER_PYTHON = os.environ.get("EXECDECK_TEST_PYTHON") or sys.executable


def boot_source(id="gw0", execmodel="thread", marker=True, stdout=None):
    """The source line payload our Rust master sends: one EXECDECK_BOOT
    line followed by worker.py (``stdout``: the config key, when given)."""
    config = {"id": id, "execmodel": execmodel}
    if not marker:
        config["marker"] = False
    if stdout is not None:
        config["stdout"] = stdout
    return "EXECDECK_BOOT = %r\n" % (config,) + WORKER_SOURCE


def make_bootstrap(stdout=None):
    """A replacement for execnet's bootstrap_import/bootstrap_exec: send our
    worker instead of execnet's gateway_base and check the handshake.

    Through ``via`` the forwarder is execnet's serve_proxy_io, which wants
    exactly b"1" first, so the marker is left out there.
    """
    def bootstrap(io, spec):
        marker = not spec.via
        source = boot_source(spec.id, spec.execmodel or "thread", marker,
                             stdout)
        io.write((repr(source) + "\n").encode("utf-8"))
        want = (MARKER if marker else b"") + b"1"
        got = io.read(len(want))
        if got != want:
            raise RuntimeError("bad handshake from worker: %r" % (got,))
    return bootstrap


#: Boots our worker as execdeck's master does (fd 1 of remote code goes to
#: stderr, which execdeck's master shows): most tests use this one.
execdeck_bootstrap = make_bootstrap()
#: Boots our worker as execnet's master should: fd 1 discarded, as execnet's
#: own worker does (execnet's master leaves the worker's stderr on the
#: user's terminal).
execnet_bootstrap = make_bootstrap(stdout="discard")


def python_spec(spec="popen"):
    if WORKER_PYTHON != sys.executable:
        spec += "//python=%s" % WORKER_PYTHON
    return spec


@pytest.fixture(autouse=True)
def _hang_watchdog():
    faulthandler.dump_traceback_later(120, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


@pytest.fixture
def ourboot(monkeypatch):
    """Make execnet's popen/ssh/via bootstrap start our worker."""
    monkeypatch.setattr(gateway_bootstrap, "bootstrap_import", execdeck_bootstrap)
    monkeypatch.setattr(gateway_bootstrap, "bootstrap_exec", execdeck_bootstrap)


@pytest.fixture
def group(ourboot):
    g = execnet.Group()
    yield g
    g.terminate(timeout=TIMEOUT)


@pytest.fixture
def makegateway(group):
    def make(spec="popen"):
        return group.makegateway(python_spec(spec))
    return make


@pytest.fixture
def gw(makegateway):
    return makegateway("popen")


@pytest.fixture(scope="session")
def worker():
    """bootstrap/worker.py imported as a module."""
    spec = importlib.util.spec_from_file_location("execdeck_worker", WORKER_PATH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def pid_gone(pid):
    """True when pid no longer runs (a zombie counts as gone)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("State:"):
                    return "Z" in line.split(":", 1)[1]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return False


def wait_pid_gone(pid, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pid_gone(pid):
            return True
        time.sleep(0.02)
    return pid_gone(pid)


class _FakeFactory:
    def new(self, id):
        return ("channel", id)


class _FakeGateway:
    """Lets the worker module's loads_internal decode channel opcodes as
    ("channel", id) tuples in raw tests."""
    _strconfig = (True, False)
    _channelfactory = _FakeFactory()


class RawWorker:
    """A worker subprocess driven message by message."""

    names = ("STATUS", "RECONFIGURE", "GATEWAY_TERMINATE", "CHANNEL_EXEC",
             "CHANNEL_DATA", "CHANNEL_CLOSE", "CHANNEL_CLOSE_ERROR",
             "CHANNEL_LAST_MESSAGE")

    def __init__(self, worker_mod, args=(), env=None, stderr_path=None):
        self.w = worker_mod
        self.stderr_path = stderr_path
        self._stderr_file = open(stderr_path, "wb") if stderr_path else None
        self.proc = subprocess.Popen(
            [WORKER_PYTHON, "-u", str(WORKER_PATH)] + list(args),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self._stderr_file or subprocess.DEVNULL,
            env=env, bufsize=0)
        self.buf = b""
        first = self.read(1)
        assert first == b"1", first

    @property
    def pid(self):
        return self.proc.pid

    def read(self, n, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no data from worker after %ss" % timeout)
            r, _, _ = select.select([fd], [], [], left)
            if r:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise EOFError("worker closed its stdout")
                self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def send(self, code, chid=0, payload=b""):
        if isinstance(code, str):
            code = self.names.index(code)
        self.proc.stdin.write(struct.pack("!bii", code, chid, len(payload))
                              + payload)
        self.proc.stdin.flush()

    def send_obj(self, code, chid, obj):
        self.send(code, chid, self.w.dumps_internal(obj))

    def exec_(self, chid, source, call_name=None, kwargs=None):
        self.send_obj("CHANNEL_EXEC", chid,
                      (source, None, call_name, kwargs or {}))

    def recv(self, timeout=TIMEOUT):
        """Next message as (name, channel id, decoded payload or None)."""
        code, chid, n = struct.unpack("!bii", self.read(9, timeout))
        data = self.read(n, timeout) if n else b""
        name = self.names[code]
        value = self.w.loads_internal(data, _FakeGateway()) if data else None
        return name, chid, value

    def recv_until_closed(self, chid, timeout=TIMEOUT):
        """Messages up to and including the CLOSE(_ERROR) of chid."""
        out = []
        while True:
            msg = self.recv(timeout)
            out.append(msg)
            if msg[1] == chid and msg[0] in ("CHANNEL_CLOSE",
                                              "CHANNEL_CLOSE_ERROR"):
                return out

    def stderr_text(self):
        if self._stderr_file:
            self._stderr_file.flush()
        return Path(self.stderr_path).read_text(errors="replace")

    def close(self):
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self._stderr_file:
            self._stderr_file.close()


@pytest.fixture
def raw_worker(worker, tmp_path):
    started = []

    def start(*args, env=None):
        rw = RawWorker(worker, args, env=env,
                       stderr_path=tmp_path / ("stderr-%d" % len(started)))
        started.append(rw)
        return rw
    yield start
    for rw in started:
        rw.close()
